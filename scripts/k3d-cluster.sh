#!/usr/bin/env bash
# A local Kubernetes cluster for Hangar in Docker, with k3d: one server and two
# agents (so the operator's two replicas land on different nodes), the agents
# labelled with zones zone-a/zone-b (for examples/kubernetes/server-group-ha.yaml),
# and a local registry the nodes pull from.
#
#   scripts/k3d-cluster.sh create    # or: make k3d-create
#   scripts/k3d-cluster.sh status
#   scripts/k3d-cluster.sh delete    # or: make k3d-delete
#
# Images go to the registry as k3d-hangar-registry.localhost:5000/<name>:<tag>
# (make k3d-build); deploy with make kustomize-k3d.
# Settings: K3D_CLUSTER (hangar), K3D_REGISTRY (hangar-registry.localhost), K3D_REGISTRY_PORT (5000).
set -euo pipefail

CLUSTER=${K3D_CLUSTER:-hangar}
REGISTRY=${K3D_REGISTRY:-hangar-registry.localhost}
PORT=${K3D_REGISTRY_PORT:-5000}
# k3d prefixes the names of what it creates.
REGISTRY_HOST="k3d-${REGISTRY}"

log() { printf '[k3d-cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is not installed: $2"; }

create() {
  need docker "k3d runs the Kubernetes nodes as Docker containers; install Docker first"
  need k3d "install it from https://k3d.io (e.g. curl -s https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | bash)"
  need kubectl "install it from https://kubernetes.io/docs/tasks/tools/"
  docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine: is it running, and may this user use it?"

  if k3d registry get "$REGISTRY_HOST" >/dev/null 2>&1; then
    log "registry $REGISTRY_HOST exists"
  else
    log "creating registry $REGISTRY_HOST on port $PORT"
    k3d registry create "$REGISTRY" --port "$PORT"
  fi

  if k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
    log "cluster $CLUSTER exists"
  else
    log "creating cluster $CLUSTER (1 server, 2 agents)"
    k3d cluster create "$CLUSTER" \
      --servers 1 --agents 2 \
      --registry-use "${REGISTRY_HOST}:${PORT}" \
      --wait
  fi
  kubectl config use-context "k3d-${CLUSTER}" >/dev/null
  kubectl label node "k3d-${CLUSTER}-agent-0" topology.kubernetes.io/zone=zone-a --overwrite >/dev/null
  kubectl label node "k3d-${CLUSTER}-agent-1" topology.kubernetes.io/zone=zone-b --overwrite >/dev/null

  # The nodes reach the registry by its container name; this machine must resolve it too to push.
  if ! getent hosts "$REGISTRY_HOST" >/dev/null; then
    log "note: $REGISTRY_HOST does not resolve here; to push images add this line to /etc/hosts:"
    log "  127.0.0.1 $REGISTRY_HOST"
  fi
  log "ready: kubectl context k3d-${CLUSTER}; push images to ${REGISTRY_HOST}:${PORT}/<name>:<tag>"
  log "next: make k3d-build kustomize-k3d"
}

delete() {
  need k3d "install it from https://k3d.io"
  if k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
    k3d cluster delete "$CLUSTER"
  else
    log "no cluster $CLUSTER"
  fi
  if k3d registry get "$REGISTRY_HOST" >/dev/null 2>&1; then
    k3d registry delete "$REGISTRY_HOST"
  else
    log "no registry $REGISTRY_HOST"
  fi
}

status() {
  need k3d "install it from https://k3d.io"
  k3d cluster get "$CLUSTER" || die "no cluster $CLUSTER: run $0 create"
  k3d registry get "$REGISTRY_HOST" || die "no registry $REGISTRY_HOST: run $0 create"
  kubectl --context "k3d-${CLUSTER}" get nodes -L topology.kubernetes.io/zone
}

case "${1:-}" in
  create) create ;;
  delete) delete ;;
  status) status ;;
  *) die "usage: $0 create|delete|status" ;;
esac
