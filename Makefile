# Hangar: common tasks. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
HANGAR := $(CARGO) run -q -p hangar --

.PHONY: help run test test-deps crds lint fmt build

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## Run Hangar locally on the bundled examples (no cluster needed)
	$(HANGAR) up -f examples/local

test-deps: ## Install what the tests run against (kube-apiserver, etcd, redis, MCP SDKs) outside the repo
	scripts/test-deps.sh

test: test-deps ## Run every test, against the real parts
	$(CARGO) test --workspace

crds: ## Regenerate deploy/crds from the Rust types
	$(HANGAR) crds --output-dir deploy/crds

lint: ## Formatting and clippy, as CI runs them
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

build: ## Build the hangar binary (release)
	$(CARGO) build --release -p hangar
