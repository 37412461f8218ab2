# Hangar: common tasks. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
HANGAR := $(CARGO) run -q -p hangar --
# `make run` shows cargo's progress: a first build takes minutes.
HANGAR_VERBOSE := $(CARGO) run -p hangar --

# Image and cluster settings; override on the command line, e.g. make deploy IMG=registry/hangar:1.2.3
# Where `make run` serves.
LISTEN ?= 127.0.0.1:8080
IMG ?= ghcr.io/mcp-hangar/hangar:dev
CONTAINER_TOOL ?= docker
KUBECTL ?= kubectl
HELM ?= helm
NAMESPACE ?= hangar-system
RELEASE ?= hangar
K3D_IMG ?= k3d-hangar-registry.localhost:5000/hangar:dev

.PHONY: bench bench-operator help run test test-deps images e2e crds rbac manifests generate lint fmt build \
	docker-build docker-push install uninstall deploy undeploy \
	kustomize-k3d kustomize-prod k3d-create k3d-delete k3d-build k3d-deploy k3d-examples

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## Run Hangar locally on the bundled examples (no cluster needed)
	$(HANGAR_VERBOSE) up -f examples/local --listen $(LISTEN)

test-deps: ## Install what the tests run against (kube-apiserver, etcd, helm, kustomize, redis, MCP SDKs) outside the repo
	scripts/test-deps.sh

test: test-deps images ## Run every test, against the real parts, the end-to-end tests, then the README's first steps (scripts/newcomer.sh)
	$(CARGO) test --locked --workspace --exclude hangar-e2e
	$(E2E)
	scripts/newcomer.sh

# The end-to-end tests: the chart, servers and gateways on a real single-node cluster.
E2E := $(CARGO) test --locked -p hangar-e2e

e2e: images ## Only the end-to-end tests (README "On a cluster"): Helm install, servers, gateway, scale to zero, failures, rolling update, clean-up; prints step times
	$(E2E)

images: ## Build the OCI images the test node runs (Hangar from the release binary), without Docker
	$(CARGO) build --release --locked -p hangar
	scripts/image.sh

crds: ## Regenerate deploy/crds and the Helm chart's copy from the Rust types
	$(HANGAR) crds --output-dir deploy/crds
	rm -f deploy/helm/hangar/crds/*.yaml
	cp deploy/crds/*.mcp-hangar.io.yaml deploy/helm/hangar/crds/

rbac: ## Regenerate the operator's ClusterRole (Kustomize base and Helm chart) from the controllers' rules
	$(HANGAR) rbac --output deploy/kustomize/base/cluster-role.yaml
	cp deploy/kustomize/base/cluster-role.yaml deploy/helm/hangar/files/cluster-role.yaml

admission-policy: ## Copy the Kustomize admission policies (the base's, the finalizer component's) into the Helm chart
	cp deploy/kustomize/base/admission-policy.yaml deploy/helm/hangar/files/admission-policy.yaml
	cp deploy/kustomize/components/finalizer-policy/finalizer-policy.yaml deploy/helm/hangar/files/finalizer-policy.yaml

manifests: crds rbac admission-policy ## Regenerate every derived manifest (CRDs, RBAC, the chart's admission policies)

generate: manifests ## Same as manifests: Hangar generates manifests, no code

bench: ## The release `hangar gateway` under wrk beside the backends, nginx and ToolHive vMCP (prints tables; about an hour on the 2-core machine)
	scripts/bench-deps.sh
	$(CARGO) build --release -p hangar
	@# The driver only starts processes and reads wrk's output: built in the dev
	@# profile, it needs no release build of its own dependencies.
	$(CARGO) bench --profile dev -p hangar-gateway --bench gateway

bench-operator: ## The release `hangar operator` converging 100 and 1,000 MCPServers on a real API server beside the write floor (prints a table; N=… for other sizes, N="1000 chaos" adds runs with 20 kill -9s)
	$(CARGO) build --release --locked -p hangar
	$(CARGO) bench --locked --profile dev -p hangar-operator --bench operator -- $(or $(N),100 1000)

lint: ## Formatting and clippy, as CI runs them
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

build: ## Build the hangar binary (release)
	$(CARGO) build --release -p hangar

docker-build: ## Build the image (static, non-root, only /hangar): make docker-build IMG=registry/hangar:tag
	$(CONTAINER_TOOL) build -t $(IMG) .

docker-push: ## Push the image: make docker-push IMG=registry/hangar:tag
	$(CONTAINER_TOOL) push $(IMG)

install: ## Install the CRDs into the cluster of the current kubectl context
	$(KUBECTL) apply --server-side -k deploy/crds

uninstall: ## Remove the CRDs, and with them every Hangar resource in the cluster
	$(KUBECTL) delete -k deploy/crds --ignore-not-found

deploy: ## Install or upgrade the operator with Helm: make deploy IMG=registry/hangar:tag
	@img='$(IMG)'; tag="$${img##*:}"; \
	if [[ "$$img" != *:* || "$$tag" == */* ]]; then echo "IMG must be repository:tag, got '$$img'" >&2; exit 1; fi; \
	set -x; $(HELM) upgrade --install $(RELEASE) deploy/helm/hangar --namespace $(NAMESPACE) --create-namespace \
	  --set image.repository="$${img%:*}" --set image.tag="$$tag" --wait

undeploy: ## Uninstall the operator (the CRDs and your resources stay)
	$(HELM) uninstall $(RELEASE) --namespace $(NAMESPACE)

kustomize-k3d: ## Deploy to the k3d cluster with Kustomize (overlay k3d)
	$(KUBECTL) apply --server-side -k deploy/kustomize/overlays/k3d

kustomize-prod: ## Deploy to the current cluster with Kustomize (overlay production)
	$(KUBECTL) apply --server-side -k deploy/kustomize/overlays/production

k3d-create: ## Create the k3d cluster (1 server, 2 agents) and its local registry
	scripts/k3d-cluster.sh create

k3d-delete: ## Delete the k3d cluster and its registry
	scripts/k3d-cluster.sh delete

k3d-build: ## Build the image and push it to the k3d registry
	$(MAKE) docker-build docker-push IMG=$(K3D_IMG)

k3d-deploy: k3d-build kustomize-k3d ## Build, push and deploy the operator to k3d

k3d-examples: ## Apply examples/kubernetes to the current cluster
	$(KUBECTL) apply -f examples/kubernetes/
