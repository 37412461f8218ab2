#!/usr/bin/env bash
# Installs everything the test suite runs against, outside the repository, and
# writes their locations to $HANGAR_CACHE/test-env (read by hangar-testenv):
#   - kube-apiserver, etcd, helm, kustomize built from Go modules (control-plane.sh)
#   - redis-server (Debian package)
#   - nginx (Debian package): a real reverse proxy in front of the gateway
#   - the official MCP Python SDK, Python reference servers and FastAPI, a real OpenAPI
#     service (tests/peers/requirements.lock: pinned, hashed)
#   - the official TypeScript SDK, reference servers and conformance suite (tests/peers/package.json)
#   - for the end-to-end tests' real node: kubelet, kube-proxy, kube-controller-manager,
#     kube-scheduler, kubectl, containerd, CoreDNS and kube-router built from Go modules
#     (control-plane.sh --node); runc, the CNI plugins, umoci, iptables, ipset (Debian packages);
#     uv (PyPI, hash-pinned) for the examples' stand-in of ghcr.io/astral-sh/uv
#   - the official MCP Registry server built from its Go module, and PostgreSQL
#     (Debian package) for it to keep its data in
# Idempotent: what is already installed at the pinned versions is reused.
#
#   scripts/test-deps.sh                 # everything
#   scripts/test-deps.sh python node     # only some parts: kube redis proxy python node cluster registry
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${HANGAR_CACHE:-$HOME/.cache/hangar}
mkdir -p "$CACHE"
log() { printf '[test-deps] %s\n' "$*" >&2; }
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

PARTS=${*:-kube redis proxy python node cluster registry}
want() { [[ " $PARTS " == *" $1 "* ]]; }
ENV_FILE="$CACHE/test-env"
touch "$ENV_FILE"
record() { # KEY VALUE: replace the key's line in the env file
  grep -v "^$1=" "$ENV_FILE" >"$ENV_FILE.tmp" || true
  echo "$1=$2" >>"$ENV_FILE.tmp" && mv "$ENV_FILE.tmp" "$ENV_FILE"
}

apt_install() { # PACKAGE...: installs those that are missing (Debian)
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
}

if want kube; then
  # An assignment of its own, so a failed build stops this script (set -e
  # does not see a failure inside a command's arguments).
  kube_bin=$(scripts/control-plane.sh | tail -n 1)
  record HANGAR_KUBE_BIN "$kube_bin"
fi

if want redis; then
if ! command -v redis-server >/dev/null; then
  apt_install redis-server
  # the package starts a system instance; tests start their own on free ports
  (systemctl disable --now redis-server 2>/dev/null || service redis-server stop 2>/dev/null) || true
fi
record HANGAR_REDIS_SERVER "$(command -v redis-server)"
fi

if want proxy; then
if ! command -v nginx >/dev/null; then
  apt_install nginx-light
  # the package may start a system nginx; tests run their own on free ports
  (systemctl disable --now nginx 2>/dev/null || service nginx stop 2>/dev/null) >/dev/null || true
fi
record HANGAR_NGINX "$(command -v nginx)"
fi

if want python; then
VENV="$CACHE/venv-$(stamp tests/peers/requirements.lock)"
# Built in place (console scripts record the venv's path in their shebang) and
# marked complete only at the end, so an interrupted install is redone.
if [[ ! -f "$VENV/.complete" ]]; then
  log "creating Python venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --require-hashes -r tests/peers/requirements.lock
  touch "$VENV/.complete"
fi
record HANGAR_PYTHON "$VENV/bin/python"
fi

if want node; then
NODE="$CACHE/node-$(stamp tests/peers/package.json tests/peers/package-lock.json)"
if [[ ! -d "$NODE/node_modules" ]]; then
  log "installing npm peers into $NODE"
  rm -rf "$NODE.tmp" && mkdir -p "$NODE.tmp"
  cp tests/peers/package.json tests/peers/package-lock.json "$NODE.tmp/"
  (cd "$NODE.tmp" && npm ci --no-audit --no-fund --loglevel=error)
  mv "$NODE.tmp" "$NODE"
fi
record HANGAR_NODE_MODULES "$NODE/node_modules"
fi

if want cluster; then
  # runc runs the containers, the CNI plugins wire pods to the bridge, umoci
  # builds images (scripts/image.sh), iptables and conntrack serve kube-proxy,
  # ipset serves kube-router's NetworkPolicy firewall, iproute2 and kmod
  # (modprobe) set up the host's network.
  apt_install runc containernetworking-plugins umoci iptables ipset conntrack iproute2 kmod
  kube_bin=$(scripts/control-plane.sh --node | tail -n 1)
  record HANGAR_KUBE_BIN "$kube_bin"
  record HANGAR_RUNC "$(command -v runc)"
  record HANGAR_CNI_BIN /usr/lib/cni
  # uv for the stand-in of ghcr.io/astral-sh/uv that the examples' test runs
  # (scripts/image.sh uv): the pinned wheel from PyPI, its hash checked.
  UV_DIR="$CACHE/uv-$(stamp tests/images/uv/requirements.txt)"
  if [[ ! -x "$UV_DIR/uvx" ]]; then
    log "downloading uv into $UV_DIR"
    rm -rf "$UV_DIR.tmp" && mkdir -p "$UV_DIR.tmp"
    python3 -m pip download -q --no-deps --only-binary :all: --require-hashes \
      -r tests/images/uv/requirements.txt -d "$UV_DIR.tmp"
    python3 -m zipfile -e "$UV_DIR.tmp"/uv-*.whl "$UV_DIR.tmp/wheel"
    install -m 755 "$UV_DIR.tmp"/wheel/uv-*.data/scripts/{uv,uvx} "$UV_DIR.tmp/"
    rm -rf "$UV_DIR.tmp/wheel" "$UV_DIR.tmp"/*.whl && mv "$UV_DIR.tmp" "$UV_DIR"
  fi
  record HANGAR_UV "$UV_DIR/uv"
fi

if want registry; then
  # The registry's v1.8.9 go.mod asks for huma v2.40.0, which the module proxy
  # refuses; v2.39.0 (same API) is served, so a wrapper module pins it.
  REGISTRY_VERSION=v1.8.9
  HUMA_VERSION=v2.39.0
  apt_install postgresql
  # The package may start a system cluster; tests run their own on free ports.
  (pg_ctlcluster --help >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | while read -r version name _; do
    pg_ctlcluster "$version" "$name" stop 2>/dev/null || true
  done) || true
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -x "$pg_bin/initdb" ]] || { log "no initdb in $pg_bin after installing postgresql"; exit 1; }
  record HANGAR_POSTGRES_BIN "$pg_bin"
  REGISTRY_BIN="$CACHE/bin/mcp-registry-$REGISTRY_VERSION"
  if [[ ! -x "$REGISTRY_BIN/registry" ]]; then
    log "building the MCP Registry $REGISTRY_VERSION from its Go module"
    wrap="$CACHE/src/mcp-registry-$REGISTRY_VERSION"
    rm -rf "$wrap" && mkdir -p "$wrap"
    (
      cd "$wrap"
      export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
      export GOMODCACHE=${GOMODCACHE:-$CACHE/go/mod} GOCACHE=${GOCACHE:-$CACHE/go/build}
      go mod init hangar.local/mcp-registry-wrapper >/dev/null 2>&1
      go mod edit -require="github.com/modelcontextprotocol/registry@$REGISTRY_VERSION" \
        -replace="github.com/danielgtaylor/huma/v2=github.com/danielgtaylor/huma/v2@$HUMA_VERSION" \
        -tool=github.com/modelcontextprotocol/registry/cmd/registry
      go mod tidy
      go build -trimpath -ldflags "-s -w -X main.Version=$REGISTRY_VERSION" -o "$wrap/registry" \
        github.com/modelcontextprotocol/registry/cmd/registry
    )
    mkdir -p "$REGISTRY_BIN" && mv "$wrap/registry" "$REGISTRY_BIN/registry"
  fi
  record HANGAR_MCP_REGISTRY "$REGISTRY_BIN/registry"
fi

log "recorded in $ENV_FILE:"
cat "$ENV_FILE" >&2
