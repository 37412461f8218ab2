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
#   node    docker.io/library/node:e2e  stand-in of Docker Hub's node image for the
#           examples' test (tagged there as the examples name it): the test
#           peers' Node.js 22 and the machine's npm, a shell and env
#   uv      ghcr.io/astral-sh/uv:e2e    stand-in of uv's image: uv and uvx
#           (scripts/test-deps.sh cluster), the test venv's Python interpreter
#
#   scripts/image.sh [--out DIR] [hangar] [pause] [python] [redis] [node] [uv]   # default: all
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
IMAGES=${*:-hangar pause python redis node uv}
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

# copy_interpreter ROOT: the test venv's Python interpreter and its standard
# library under ROOT/opt/python (python3 on its PATH); sets VENV (the test
# venv's path) and PY_VERSION (the interpreter's X.Y).
copy_interpreter() {
  local root=$1 venv_python
  venv_python=$(sed -n 's/^HANGAR_PYTHON=//p' "$CACHE/test-env" 2>/dev/null || true)
  [[ -x "$venv_python" ]] || { log "no test venv recorded in $CACHE/test-env; run scripts/test-deps.sh python"; exit 1; }
  local base exe
  read -r PY_VERSION base exe < <("$venv_python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", sys.base_prefix, sys._base_executable)')
  VENV=$(dirname "$(dirname "$venv_python")")
  local py="python$PY_VERSION"
  mkdir -p "$root/opt/python/bin" "$root/opt/python/lib"
  cp -L "$exe" "$root/opt/python/bin/$py"
  ln -s "$py" "$root/opt/python/bin/python3"
  tar -C "$base/lib" --exclude="$py/site-packages" --exclude="$py/test" --exclude="$py/idlelib" \
    --exclude="$py/tkinter" --exclude="$py/turtledemo" --exclude="$py/ensurepip" \
    --exclude="$py/config-*" --exclude='__pycache__' -cf - "$py" | tar -C "$root/opt/python/lib" -xf -
  # libpythonX.Y.so when the interpreter is built shared (pyenv), found through LD_LIBRARY_PATH.
  local libpython
  libpython=$(libraries_of "$exe" | grep "/libpython" || true)
  [[ -z "$libpython" ]] || cp -L "$libpython" "$root/opt/python/lib/"
}

# copy_libraries ROOT: the shared libraries every ELF file under ROOT/opt needs.
copy_libraries() {
  local root=$1 elves
  mapfile -t elves < <(find "$root/opt" -type f \( -name '*.so*' -o -perm -u+x \) -exec sh -c 'head -c 4 "$1" | grep -q ELF' _ {} \; -print)
  # shellcheck disable=SC2046
  copy_into "$root" $(libraries_of "${elves[@]}" | grep -v "/libpython")
}

build_python() {
  local root="$WORK/python-root"
  copy_interpreter "$root"
  local venv=$VENV version=$PY_VERSION py="python$PY_VERSION"
  mkdir -p "$root/opt/venv/bin" "$root/opt/venv/lib/$py" "$root/srv"
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
  copy_libraries "$root"
  pack python hangar.local/mcp-python:e2e "$root" --config.user 65532:65532 \
    --config.env PATH=/opt/venv/bin:/opt/python/bin:/usr/bin:/bin \
    --config.env LD_LIBRARY_PATH=/opt/python/lib --config.env PYTHONUNBUFFERED=1 \
    --config.workingdir /srv --config.entrypoint /opt/venv/bin/python --config.cmd /srv/server.py
}

# What the stand-ins of public images need to run package managers: a shell
# (npm and npx run package binaries through sh), env (the scripts' shebang),
# dirname and realpath (uv's launchers of installed tools use them) and the
# machine's CA bundle (they fetch from the registries over HTTPS; where the
# machine reaches them through a TLS-inspecting proxy, its CA is in there).
add_base() { # ROOT
  local root=$1 tools=(/usr/bin/env /usr/bin/dirname /usr/bin/realpath)
  mkdir -p "$root/bin" "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp"
  cp -L /bin/dash "$root/bin/sh"
  copy_into "$root" "${tools[@]}"
  # shellcheck disable=SC2046
  copy_into "$root" $(libraries_of /bin/dash "${tools[@]}")
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
}

# node: the stand-in of Docker Hub's node image (the examples run `npx -y
# <package>` in it): the Node.js 22 of the test peers and the machine's npm.
build_node() {
  local modules node npm
  modules=$(sed -n 's/^HANGAR_NODE_MODULES=//p' "$CACHE/test-env" 2>/dev/null || true)
  node="$modules/node/bin/node"
  [[ -x "$node" ]] || { log "no Node.js 22 in the test peers; run scripts/test-deps.sh node"; exit 1; }
  npm=$(dirname "$(readlink -f "$(command -v npm)")")/..
  [[ -f "$npm/bin/npx-cli.js" ]] || { log "npm is missing (it comes with the machine's Node.js)"; exit 1; }
  local root="$WORK/node-root"
  add_base "$root"
  mkdir -p "$root/opt/node/bin" "$root/opt/node/lib/node_modules"
  cp -L "$node" "$root/opt/node/bin/node"
  cp -a "$(readlink -f "$npm")" "$root/opt/node/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/opt/node/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/opt/node/bin/npx"
  copy_libraries "$root"
  pack node "$(full_reference node:e2e)" "$root" --config.user 1000:1000 \
    --config.env PATH=/opt/node/bin:/usr/bin:/bin --config.env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    --config.cmd node
}

# uv: the stand-in of ghcr.io/astral-sh/uv (the examples run `uvx <package>`
# in it): the uv of scripts/test-deps.sh cluster and a Python interpreter.
build_uv() {
  local uv
  uv=$(sed -n 's/^HANGAR_UV=//p' "$CACHE/test-env" 2>/dev/null || true)
  [[ -x "$uv" ]] || { log "no uv recorded in $CACHE/test-env; run scripts/test-deps.sh cluster"; exit 1; }
  local root="$WORK/uv-root"
  add_base "$root"
  copy_interpreter "$root"
  mkdir -p "$root/opt/uv/bin"
  cp -L "$uv" "$(dirname "$uv")/uvx" "$root/opt/uv/bin/"
  copy_libraries "$root"
  pack uv ghcr.io/astral-sh/uv:e2e "$root" --config.user 1000:1000 \
    --config.env PATH=/opt/uv/bin:/opt/python/bin:/usr/bin:/bin \
    --config.env LD_LIBRARY_PATH=/opt/python/lib --config.env PYTHONUNBUFFERED=1 \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.env UV_PYTHON_DOWNLOADS=never --config.cmd uv
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
    node) build_node ;;
    uv) build_uv ;;
    *) log "unknown image $image (want hangar, pause, python, redis, node or uv)"; exit 2 ;;
  esac
done
log "built in $(( $(date +%s) - start ))s: $OUT"
