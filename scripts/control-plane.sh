#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests run against (kube-apiserver,
# etcd) plus the packaging tools (helm, kustomize) from their Go modules, at pinned
# versions, into a cache outside the repository. Already-built binaries are reused.
# With --node it also builds what a real node needs (scripts/cluster.sh):
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl from the same
# Kubernetes release, containerd and ctr, CoreDNS and kube-router (NetworkPolicy).
#
#   scripts/control-plane.sh            # build everything missing, print the bin dir
#   scripts/control-plane.sh --node     # the same plus the node's binaries
#   scripts/control-plane.sh --print    # only print the bin dir
#
# Environment: HANGAR_CACHE (default ~/.cache/hangar). Needs Go >= 1.26 and the Go
# module proxy; no Docker, no release downloads.
set -euo pipefail

KUBE_VERSION=v1.36.3
ETCD_VERSION=v3.6.8 # the etcd that Kubernetes ${KUBE_VERSION} itself is built against
HELM_VERSION=v3.21.4
KUSTOMIZE_VERSION=v5.8.1
# containerd 2.x: kubelet 1.36 no longer supports containerd 1.x (Debian's is 1.6).
CONTAINERD_VERSION=v2.4.2
COREDNS_VERSION=v1.15.0
# The node's NetworkPolicy enforcer (its firewall alone: no routing, no service
# proxy). The one that runs on these hosts: kube-network-policies needs the
# kernel's nftables queue (CONFIG_NFT_QUEUE, absent here), Cilium compiles BPF
# with clang at run time. v2.1.0 is the only version the module proxy serves;
# it runs on a throwaway test node only, never in what Hangar ships.
KUBE_ROUTER_VERSION=v2.1.0

CACHE=${HANGAR_CACHE:-$HOME/.cache/hangar}
BIN="$CACHE/bin/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
export GOMODCACHE=${GOMODCACHE:-$CACHE/go/mod} GOCACHE=${GOCACHE:-$CACHE/go/build}

NODE=0
case "${1:-}" in
  --print) echo "$BIN"; exit 0 ;;
  --node) NODE=1 ;;
  "") ;;
  *) echo "control-plane.sh: unknown argument $1 (want --node or --print)" >&2; exit 2 ;;
esac
command -v go >/dev/null || { echo "control-plane.sh: Go is not installed (need Go >= 1.26)" >&2; exit 1; }
mkdir -p "$BIN"
# Builds land here first and are moved into $BIN whole, so an interrupted build
# never leaves a binary that a later run would take as finished.
STAGE="$CACHE/bin/.stage-$$"
mkdir -p "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
install_staged() { for f in "$@"; do mv -f "$STAGE/$f" "$BIN/$f"; done; }
log() { printf '[control-plane] %s\n' "$*" >&2; }

# Every command the wrapper can build; the go.mod declares them all as tools,
# so one tidy serves the control plane and the node alike.
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

build_kube() {
  local wrap="$CACHE/src/kubernetes-${KUBE_VERSION}"
  local cmds=(kube-apiserver)
  [[ $NODE == 1 ]] && cmds=("${KUBE_CMDS[@]}")
  local missing=()
  for c in "${cmds[@]}"; do [[ -x "$BIN/$c" ]] || missing+=("$c"); done
  [[ ${#missing[@]} -eq 0 ]] && return
  log "building ${missing[*]} ${KUBE_VERSION} (cold build takes 10-20 min on 2 cores)"
  mkdir -p "$wrap" && cd "$wrap"
  # The stamp names the tools the go.mod was tidied for.
  if [[ "$(cat .tidy-done 2>/dev/null)" != "${KUBE_CMDS[*]}" ]]; then
    rm -f go.mod go.sum
    go mod init hangar.local/kube-wrapper >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}"
    # k8s.io/kubernetes replaces its staging modules with local paths; pin each one
    # to its published v0.X.Y instead. The list comes from its own go.mod.
    local gomod staging minor
    gomod=$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    minor="v0.${KUBE_VERSION#v1.}"
    staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._-]*\) => ./staging/src/.*#\1#p' "$gomod")
    [[ -n "$staging" ]] || { log "found no staging modules in $gomod"; exit 1; }
    for m in $staging; do go mod edit -replace="$m=$m@$minor"; done
    for c in "${KUBE_CMDS[@]}"; do go mod edit -tool="k8s.io/kubernetes/cmd/$c"; done
    go mod tidy
    echo "${KUBE_CMDS[*]}" >.tidy-done
  fi
  local date pkgs ld
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=${KUBE_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION")"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  go build -trimpath -ldflags "$ld" -o "$STAGE/" "${pkgs[@]}"
  install_staged "${missing[@]}"
}

build_etcd() {
  [[ -x "$BIN/etcd" ]] && return
  log "building etcd ${ETCD_VERSION}"
  local wrap="$CACHE/src/etcd-${ETCD_VERSION}"
  mkdir -p "$wrap" && cd "$wrap"
  if [[ ! -f .tidy-done ]]; then
    rm -f go.mod go.sum
    go mod init hangar.local/etcd-wrapper >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@${ETCD_VERSION}" -tool=go.etcd.io/etcd/server/v3
    go mod tidy
    touch .tidy-done
  fi
  go build -trimpath -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3
  install_staged etcd
}

build_tool() { # name module version [function printing extra ldflags]
  # The bin dir is named after kube and etcd only, so a stamp tells a tool's version.
  [[ -x "$BIN/$1" && "$(cat "$BIN/.$1.version" 2>/dev/null)" == "$3" ]] && return
  log "building $1 $3"
  cd "$CACHE"
  local extra=""
  if [[ -n "${4:-}" ]]; then extra=$("$4"); fi
  GOBIN="$STAGE" go install -trimpath -ldflags "-s -w $extra" "$2@$3"
  install_staged "$1"
  echo "$3" >"$BIN/.$1.version"
}

# helm's Makefile stamps its version and the Kubernetes version it reports to
# charts (.Capabilities.KubeVersion, default for `helm template`; v1.20 without).
helm_ldflags() {
  local gomod kminor
  gomod=$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  kminor=$(sed -n 's#^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$gomod")
  [[ -n "$kminor" ]] || { log "found no k8s.io/client-go requirement in $gomod"; exit 1; }
  local f="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    f+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kminor"
  done
  echo "$f"
}

containerd_ldflags() {
  local p=github.com/containerd/containerd/v2/version
  echo "-X $p.Version=${CONTAINERD_VERSION} -X $p.Revision=${CONTAINERD_VERSION} -X $p.Package=github.com/containerd/containerd/v2"
}

coredns_ldflags() { echo "-X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}"; }

start=$(date +%s)
build_etcd
build_kube
build_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
build_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" helm_ldflags
if [[ $NODE == 1 ]]; then
  build_tool containerd github.com/containerd/containerd/v2/cmd/containerd "$CONTAINERD_VERSION" containerd_ldflags
  build_tool ctr github.com/containerd/containerd/v2/cmd/ctr "$CONTAINERD_VERSION" containerd_ldflags
  build_tool containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 "$CONTAINERD_VERSION" containerd_ldflags
  build_tool coredns github.com/coredns/coredns "$COREDNS_VERSION" coredns_ldflags
  build_tool kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "$KUBE_ROUTER_VERSION"
fi
log "ready in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"
