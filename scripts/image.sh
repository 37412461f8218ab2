#!/usr/bin/env bash
# Builds OCI image archives without Docker or a registry, with umoci, for the
# test node's containerd (`ctr images import` takes them as they are):
#
#   hangar  hangar.local/hangar:e2e     the Hangar image: the release binary at
#           /hangar, user 65532:65532, entrypoint /hangar, the CA bundle, as the
#           Dockerfile builds it. The binary links glibc dynamically (no musl
#           target on these machines), so its loader and libraries are copied in.
#   pause   hangar.local/pause:1        the node's sandbox image (tests/images/pause)
#   python  hangar.local/mcp-python:e2e the Python interpreter of the test venv and
#           its site-packages (the official MCP SDK, mcp-server-time), plus
#           tests/images/python/server.py
#   redis   the image the operator runs for a managed Redis (REDIS_IMAGE in
#           crates/hangar-operator/src/gateway/build.rs), under that name: Debian's
#           redis-server, on PATH and without an entrypoint, so the operator's
#           args (`redis-server --save "" …`) run as they do in the official image
#
#   scripts/image.sh [--out DIR] [hangar] [pause] [python] [redis]   # default: all
#
# DIR defaults to $CARGO_TARGET_DIR/e2e-images (target/e2e-images), where the
# end-to-end tests look. HANGAR_BINARY names another hangar binary for the
# Hangar image (e.g. target/debug/hangar, to try a change without a release build). Needs umoci (scripts/test-deps.sh cluster), Go, the
# release binary (cargo build --release -p hangar) and the venv
# (scripts/test-deps.sh python). Rebuilding is cheap, so every run rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[image] %s\n' "$*" >&2; }

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
OUT="$TARGET/e2e-images"
if [[ "${1:-}" == "--out" ]]; then OUT=$2; shift 2; fi
IMAGES=${*:-hangar pause python redis}
CACHE=${HANGAR_CACHE:-$HOME/.cache/hangar}
command -v umoci >/dev/null || { log "umoci is missing; run scripts/test-deps.sh cluster"; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/.work-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Copies each file to the same absolute path under ROOT.
copy_into() { # ROOT FILE...
  local root=$1; shift
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
  done
}

# The shared libraries (and the loader) the given ELF files need, one per line.
libraries_of() {
  ldd "$@" 2>/dev/null | sed -n 's#.*=> \(/[^ ]*\) .*#\1#p; s#^[[:space:]]*\(/[^ ]*\) (0x.*#\1#p' | sort -u
}

# pack NAME REF ROOTFS [umoci config flags...]: one layer from ROOTFS, the
# config, and an OCI archive $OUT/NAME.tar whose one tag is the full REF.
pack() {
  local name=$1 ref=$2 rootfs=$3; shift 3
  local layout="$WORK/$name-layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:build"
  umoci insert --image "$layout:build" "$rootfs" /
  umoci config --image "$layout:build" --tag "$ref" "$@"
  umoci rm --image "$layout:build"
  tar -C "$layout" -cf "$OUT/$name.tar.tmp" .
  mv "$OUT/$name.tar.tmp" "$OUT/$name.tar"
  log "$ref -> $OUT/$name.tar ($(du -h "$OUT/$name.tar" | cut -f1))"
}

build_hangar() {
  local bin=${HANGAR_BINARY:-$TARGET/release/hangar}
  [[ -x "$bin" ]] || { log "$bin is missing; run cargo build --release -p hangar"; exit 1; }
  local root="$WORK/hangar-root"
  mkdir -p "$root/etc/ssl/certs"
  cp "$bin" "$root/hangar"
  # shellcheck disable=SC2046
  copy_into "$root" $(libraries_of "$bin")
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  pack hangar hangar.local/hangar:e2e "$root" \
    --config.user 65532:65532 --config.entrypoint /hangar --config.cmd=--help
}

build_pause() {
  local root="$WORK/pause-root"
  mkdir -p "$root"
  (cd tests/images/pause && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$root/pause" .)
  pack pause hangar.local/pause:1 "$root" --config.user 65535:65535 --config.entrypoint /pause
}

build_python() {
  local venv_python
  venv_python=$(sed -n 's/^HANGAR_PYTHON=//p' "$CACHE/test-env" 2>/dev/null || true)
  [[ -x "$venv_python" ]] || { log "no test venv recorded in $CACHE/test-env; run scripts/test-deps.sh python"; exit 1; }
  local venv version base exe
  venv=$(dirname "$(dirname "$venv_python")")
  read -r version base exe < <("$venv_python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", sys.base_prefix, sys._base_executable)')
  local root="$WORK/python-root" py="python$version"
  # The interpreter's prefix becomes /opt/python, the venv /opt/venv.
  mkdir -p "$root/opt/python/bin" "$root/opt/python/lib" "$root/opt/venv/bin" "$root/opt/venv/lib/$py" "$root/srv"
  cp -L "$exe" "$root/opt/python/bin/$py"
  ln -s "$py" "$root/opt/python/bin/python3"
  tar -C "$base/lib" --exclude="$py/site-packages" --exclude="$py/test" --exclude="$py/idlelib" \
    --exclude="$py/tkinter" --exclude="$py/turtledemo" --exclude="$py/ensurepip" \
    --exclude="$py/config-*" --exclude='__pycache__' -cf - "$py" | tar -C "$root/opt/python/lib" -xf -
  # libpythonX.Y.so when the interpreter is built shared (pyenv), found through LD_LIBRARY_PATH.
  local libpython
  libpython=$(libraries_of "$exe" | grep "/libpython" || true)
  [[ -z "$libpython" ]] || cp -L "$libpython" "$root/opt/python/lib/"
  cp -a "$venv/lib/$py/site-packages" "$root/opt/venv/lib/$py/"
  find "$root/opt/venv" -name __pycache__ -prune -exec rm -rf {} +
  printf 'home = /opt/python/bin\ninclude-system-site-packages = false\nversion = %s\n' "$version" >"$root/opt/venv/pyvenv.cfg"
  ln -s "/opt/python/bin/$py" "$root/opt/venv/bin/python"
  # Console scripts of the venv (e.g. mcp-server-time) with the image's interpreter.
  local script
  for script in "$venv"/bin/*; do
    [[ -f "$script" && ! -L "$script" ]] || continue
    if head -n 1 "$script" | grep -q "^#!$venv/bin/python"; then
      { echo "#!/opt/venv/bin/python"; tail -n +2 "$script"; } >"$root/opt/venv/bin/$(basename "$script")"
      chmod 755 "$root/opt/venv/bin/$(basename "$script")"
    fi
  done
  cp tests/images/python/*.py "$root/srv/"
  local sos
  mapfile -t sos < <(find "$root/opt" -name '*.so*' -type f)
  # shellcheck disable=SC2046
  copy_into "$root" $(libraries_of "$exe" "${sos[@]}" | grep -v "/libpython")
  pack python hangar.local/mcp-python:e2e "$root" --config.user 65532:65532 \
    --config.env PATH=/opt/venv/bin:/opt/python/bin:/usr/bin:/bin \
    --config.env LD_LIBRARY_PATH=/opt/python/lib --config.env PYTHONUNBUFFERED=1 \
    --config.workingdir /srv --config.entrypoint /opt/venv/bin/python --config.cmd /srv/server.py
}

# docker.io/library/NAME:TAG for NAME:TAG, as the kubelet looks images up.
full_reference() {
  local ref=$1 first=${1%%/*}
  if [[ "$ref" != */* ]]; then ref="docker.io/library/$ref"
  elif [[ "$first" != *.* && "$first" != *:* && "$first" != localhost ]]; then ref="docker.io/$ref"; fi
  echo "$ref"
}

build_redis() {
  local source=crates/hangar-operator/src/gateway/build.rs ref server
  ref=$(sed -n 's/^pub const REDIS_IMAGE: &str = "\(.*\)";/\1/p' "$source")
  [[ -n "$ref" ]] || { log "found no REDIS_IMAGE in $source"; exit 1; }
  server=$(command -v redis-server) || { log "redis-server is missing; run scripts/test-deps.sh redis"; exit 1; }
  local root="$WORK/redis-root"
  mkdir -p "$root/data"
  copy_into "$root" "$server"
  # shellcheck disable=SC2046
  copy_into "$root" $(libraries_of "$server")
  pack redis "$(full_reference "$ref")" "$root" --config.user 999:999 \
    --config.env PATH=/usr/bin:/bin --config.workingdir /data
}

start=$(date +%s)
for image in $IMAGES; do
  case "$image" in
    hangar) build_hangar ;;
    pause) build_pause ;;
    python) build_python ;;
    redis) build_redis ;;
    *) log "unknown image $image (want hangar, pause, python or redis)"; exit 2 ;;
  esac
done
log "built in $(( $(date +%s) - start ))s: $OUT"
