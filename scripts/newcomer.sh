#!/usr/bin/env bash
# The README's first steps, exactly as a newcomer follows them, in this
# checkout (CI runs it on a fresh clone):
#   1. `make run` until it prints `ready:`, with every example server up;
#   2. `python3 examples/local/client.py` (the official MCP Python SDK) lists
#      the tools and calls one;
#   3. `hangar render -f examples/kubernetes/` renders every example.
# Prints each step's time. Needs what `make run` needs (cargo, Node.js with
# npx and the npm registry) and the Python SDK that scripts/test-deps.sh
# installs (its python is used as the README's `python3`).
#
#   scripts/newcomer.sh
#   NEWCOMER_LISTEN=127.0.0.1:18080 scripts/newcomer.sh   # when 8080 is taken
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${HANGAR_CACHE:-$HOME/.cache/hangar}
LISTEN=${NEWCOMER_LISTEN:-127.0.0.1:8080}
READY_TIMEOUT=${NEWCOMER_READY_TIMEOUT:-900}
started=$(date +%s)
step() { printf '[newcomer] %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }
fail() { printf '[newcomer] FAILED: %s\n' "$*" >&2; exit 1; }

python=$(sed -n 's/^HANGAR_PYTHON=//p' "$CACHE/test-env" 2>/dev/null || true)
[[ -x "$python" ]] || fail "no Python with the MCP SDK recorded in $CACHE/test-env: run scripts/test-deps.sh python"

work=$(mktemp -d)
run_pid=
cleanup() {
  if [[ -n "$run_pid" ]] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM -- "-$run_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "make run (LISTEN=$LISTEN)"
log="$work/make-run.log"
setsid make run LISTEN="$LISTEN" >"$log" 2>&1 &
run_pid=$!
deadline=$(($(date +%s) + READY_TIMEOUT))
until grep -q '^ready: ' "$log"; do
  if ! kill -0 "$run_pid" 2>/dev/null; then
    cat "$log" >&2
    fail "make run exited before it was ready"
  fi
  (($(date +%s) < deadline)) || { cat "$log" >&2; fail "make run was not ready within ${READY_TIMEOUT}s"; }
  sleep 1
done
step "make run is ready"
# A server still fetching its package reports after `ready:`.
for server in everything memory; do
  until grep -Eq "^  $server +stdio +(ready|not available)" "$log"; do
    (($(date +%s) < deadline)) || break
    sleep 1
  done
done
sed -n '/^hangar up: /,$p' "$log"
for server in everything memory; do
  grep -Eq "^  $server +stdio +ready \(" "$log" || fail "server $server did not come up (see the report above)"
done

step "python3 examples/local/client.py http://$LISTEN/mcp"
out=$("$python" examples/local/client.py "http://$LISTEN/mcp")
echo "$out"
grep -q '^everything_echo: Echo: hello from the Python SDK$' <<<"$out" || fail "the Python SDK call did not echo"

step "hangar render -f examples/kubernetes/"
cargo run -q -p hangar -- render -f examples/kubernetes/ >"$work/rendered.yaml" || fail "hangar render failed"
examples=$(ls examples/kubernetes/*.yaml | wc -l)
rendered=$(grep -cE '^# MCP(Server [^ ]+ \(|Gateway )' "$work/rendered.yaml")
echo "$examples example files, $rendered MCPServer/MCPGateway renderings, $(grep -c '^kind: ' "$work/rendered.yaml") objects"

step "done"
