# gpuperf. `make test` is what CI runs.
GO      ?= go
PKGS    := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
BIN     := bin/gpuperf
# go-nvml's cgo compiles NVML 13's header, which marks functions gpuperf
# still calls on older drivers (behind symbol checks) deprecated.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: all build test test-short bench proto proto-check ptx ptx-check lint clean image verify-deploy

all: build

# The release build: the same script the container image's build stage runs.
build:
	VERSION=$(VERSION) OUT=$(BIN) ./scripts/build-release.sh

# The container image (deploy/Dockerfile), where docker or podman exists.
ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
IMAGE  ?= gpuperf
image:
	@if [ -z "$(ENGINE)" ]; then \
	  echo "make image: no container engine (docker or podman); scripts/build-release.sh is the build stage's build, which make build runs" >&2; exit 1; fi
	$(ENGINE) build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .

# deploy/: the systemd unit (systemd-analyze verify, from Debian's systemd)
# against the release binary. The Helm chart's tests are Go tests (deploy/).
verify-deploy: build
	GPUPERF_BIN=$(BIN) ./scripts/verify-systemd.sh

# The core check: every package, race detector on. One package at a time
# (-p 1): the load-generator tests measure time on a 2-core machine.
# deploy/ only renders the Helm chart with Helm's SDK and runs the built
# binary: it has no concurrency of its own, and Kubernetes' packages under
# the race detector cost minutes of compiling, so it runs without it.
RACE_PKGS := $(shell $(GO) list ./... | grep -v '/deploy$$')
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -p 1 $(RACE_PKGS)
	$(GO) test -count=1 ./deploy/

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Micro-benchmarks; the end-to-end figures are in BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Regenerates the committed protobuf code (protoc from Debian's
# protobuf-compiler; plugins pinned in go.mod). proto-check fails when stale.
proto:
	./scripts/genproto.sh

proto-check:
	./scripts/genproto.sh --check

# Regenerates the cuda backend's committed PTX from its CUDA C kernels with
# Debian's clang-14 (the version in inference/backend/cuda/kernels/
# CLANG_VERSION; no NVIDIA toolkit). ptx-check fails when it is stale.
ptx:
	./scripts/genptx.sh

ptx-check:
	./scripts/genptx.sh --check

# staticcheck is pinned and run through the module proxy, so the linter is
# the same everywhere and go.mod carries no tool dependencies.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

clean:
	rm -rf bin gpuperf-results
