# Open ECS Agent: the container-instance agent and the local ECS control plane.
# `make help` lists the targets.

GO        ?= go
BIN       := bin
PKG       := github.com/open-ecs/ecs-agent
GITHASH   := $(shell git rev-parse --short=8 HEAD 2>/dev/null || echo unknown)
DIRTY     := $(shell test -n "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo true || echo false)
LDFLAGS   := -s -w -X $(PKG)/version.GitHash=$(GITHASH) -X $(PKG)/version.Dirty=$(DIRTY)
STATICCHECK := $(shell command -v staticcheck 2>/dev/null || echo $$($(GO) env GOPATH)/bin/staticcheck)

# Test timeouts bound a hung test; CI's limit is far above them. The
# end-to-end tests mostly wait on Docker and timers, so four of them run at
# once (t.Parallel) even on two cores.
TEST_FLAGS ?= -count=1 -timeout 15m -parallel 4

.PHONY: help build check test test-unit test-integration bench fuzz run dev-setup image package clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# Static binaries (no cgo): the agent image is FROM scratch.
build: export CGO_ENABLED = 0
build: ## build bin/ecs-agent, bin/ecs-controlplane and bin/ecs-init (static)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ecs-agent ./cmd/ecs-agent
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ecs-controlplane ./cmd/ecs-controlplane
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ecs-init ./cmd/ecs-init

check: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

dev-setup: ## make sure Docker, the test image and the test tools are ready
	scripts/dev-setup.sh

test: dev-setup build ## every test: unit, integration (Docker, aws CLI, IMDS mock) and end-to-end
	ECS_TEST_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test $(TEST_FLAGS) ./...

test-unit: ## fast tests only (no Docker, aws CLI or binaries)
	$(GO) test -short $(TEST_FLAGS) ./...

test-integration: dev-setup build ## only the tests against real Docker, aws CLI and binaries
	ECS_TEST_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test $(TEST_FLAGS) -run 'Integration|E2E' ./...

bench: dev-setup build ## benchmarks (results and method in docs/benchmarks.md)
	ECS_TEST_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchmem ./...

# Every Fuzz target, one after another, each for FUZZTIME; FUZZ selects
# targets by name (a grep pattern). Interesting inputs are minimized with at
# most FUZZMINIMIZETIME runs, so that a slow target keeps fuzzing. Seeds and
# crashers live in each package's testdata/fuzz (docs/fuzzing.md).
FUZZTIME         ?= 10s
FUZZMINIMIZETIME ?= 100x
FUZZ             ?= .
fuzz: ## run every fuzz target for FUZZTIME (10s); FUZZ=FuzzDecode picks targets
	@grep -H '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' $$(git ls-files '*_test.go') \
		| sed 's|^\(.*\)/[^/]*:func \(Fuzz[A-Za-z0-9_]*\).*|\1 \2|' | grep -e "$(FUZZ)" | sort \
		| { failed=""; while read -r dir target; do \
			echo "== ./$$dir $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) \
				-fuzzminimizetime $(FUZZMINIMIZETIME) "./$$dir" </dev/null || failed="$$failed ./$$dir:$$target"; \
		done; \
		if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi; }

run: build ## start a control plane and an agent on this host (Ctrl-C stops them)
	scripts/run.sh

IMAGE    ?= open-ecs/ecs-agent:latest
CP_IMAGE ?= open-ecs/ecs-controlplane:latest
image: build ## build the agent's and the control plane's images ($(IMAGE), $(CP_IMAGE))
	scripts/build-image.sh $(BIN)/ecs-agent $(IMAGE)
	scripts/build-image.sh $(BIN)/ecs-controlplane $(CP_IMAGE) scripts/docker/Dockerfile.controlplane

# The agent package carries the agent image as /var/cache/ecs/ecs-agent.tar
# for hosts without a registry; ecs-init loads it.
DIST    := dist
VERSION := $(shell sed -n 's/^\tVersion = "\(.*\)"/\1/p' version/version.go)
package: image ## build .deb and .rpm packages of the agent and the control plane into dist/
	mkdir -p $(DIST)
	docker save -o $(DIST)/ecs-agent-image.tar $(IMAGE)
	$(GO) run ./scripts/package -version $(VERSION) -bin $(BIN) -image-tar $(DIST)/ecs-agent-image.tar -out $(DIST)

clean: ## remove build output
	rm -rf $(BIN) $(DIST)
