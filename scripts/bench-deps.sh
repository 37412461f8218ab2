#!/usr/bin/env bash
# Installs what `make bench` runs, outside the repository:
#   - wrk (the load generator) and nginx (the bare proxy), Debian packages
#   - benches/peer: the Go backends (plain HTTP echo + an MCP server on the official Go SDK)
#   - ToolHive's vMCP, built from its Go module (the peer gateway)
# into $HANGAR_CACHE/bench-bin. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${HANGAR_CACHE:-$HOME/.cache/hangar}
BIN="$CACHE/bench-bin"
mkdir -p "$BIN"
log() { printf '[bench-deps] %s\n' "$*" >&2; }

# vMCP v0.47.0 is the newest ToolHive release whose dependencies the Go
# module proxy serves in full; later ones need modules it refuses.
VMCP_VERSION=v0.47.0

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
  # the package may start a system nginx; the benchmark runs its own
  (systemctl disable --now nginx 2>/dev/null || service nginx stop 2>/dev/null) >/dev/null || true
fi

command -v go >/dev/null || { log "Go is needed for the benchmark's peers (see /work/shared/CONTROL-PLANE.md)"; exit 1; }
PEER=crates/hangar-gateway/benches/peer
stamp=$(sha256sum $PEER/go.mod $PEER/go.sum $PEER/main.go | sha256sum | cut -c1-16)
if [[ ! -x "$BIN/hangar-bench-peer" || "$(cat "$BIN/.peer-stamp" 2>/dev/null)" != "$stamp" ]]; then
  log "building benches/peer"
  (cd "$PEER" && go build -o "$BIN/hangar-bench-peer" .)
  echo "$stamp" >"$BIN/.peer-stamp"
fi

if [[ ! -x "$BIN/vmcp" || "$(cat "$BIN/.vmcp-version" 2>/dev/null)" != "$VMCP_VERSION" ]]; then
  log "building ToolHive vMCP $VMCP_VERSION from its Go module (several minutes the first time)"
  GOBIN="$BIN" go install "github.com/stacklok/toolhive/cmd/vmcp@$VMCP_VERSION"
  echo "$VMCP_VERSION" >"$BIN/.vmcp-version"
fi
log "ready in $BIN"
