# `make test` is the one command CI runs (.ci/run) and a new machine needs:
# it installs what the tests drive for real, builds and caches test
# binaries, then runs the whole suite with the race detector.
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: test setup check unit fuzz playbook-tests build run bench bench-e2e bench-keepup release image image-context

test: setup check unit fuzz playbook-tests

setup:
	bash scripts/setup.sh

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 45m ./...

fuzz:
	bash scripts/fuzz.sh

playbook-tests:
	$(GO) run ./cmd/firebreak validate playbooks/examples
	$(GO) run ./cmd/firebreak test testdata/playbooks/tests

build:
	$(GO) build -o firebreak ./cmd/firebreak

run:
	$(GO) run ./cmd/firebreak serve

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./web/ ./playbooks/ ./store/

# The whole-process comparison: `firebreak serve` next to a bare gin handler
# and the durable bound, each its own process on 127.0.0.1, driven by
# cmd/fbload (see its doc comment). Not part of `make test`: it measures,
# it does not check. BENCH_E2E_FLAGS passes flags to `fbload run`, e.g.
# BENCH_E2E_FLAGS='-rounds 3 -duration 5s -max-events 15000'.
BENCH_E2E_DIR ?= $(or $(TMPDIR),/tmp)/firebreak-bench-e2e
BENCH_E2E_FLAGS ?=

bench-e2e:
	@mkdir -p $(BENCH_E2E_DIR)
	$(GO) build -o $(BENCH_E2E_DIR)/firebreak ./cmd/firebreak
	$(GO) build -o $(BENCH_E2E_DIR)/fbload ./cmd/fbload
	$(BENCH_E2E_DIR)/fbload run -firebreak $(BENCH_E2E_DIR)/firebreak $(BENCH_E2E_FLAGS)

# "The engine keeps up" (issue 18, target 2): 60 s of load on `firebreak
# serve` with a playbook whose webhook.notify runs for every event against
# fbload's own receiver, retention on; prints accepted, processed and
# actions per second, the backlog, memory and the file's size over time.
# BENCH_KEEPUP_FLAGS passes flags to `fbload keepup`, e.g. '-clients 64'.
BENCH_KEEPUP_FLAGS ?=

bench-keepup:
	@mkdir -p $(BENCH_E2E_DIR)
	$(GO) build -o $(BENCH_E2E_DIR)/firebreak ./cmd/firebreak
	$(GO) build -o $(BENCH_E2E_DIR)/fbload ./cmd/fbload
	$(BENCH_E2E_DIR)/fbload keepup -firebreak $(BENCH_E2E_DIR)/firebreak $(BENCH_KEEPUP_FLAGS)

# Release build: static (no cgo), reproducible paths (-trimpath), stripped
# (-s -w), with the time zone database embedded (timetzdata) so the image
# needs no /usr/share/zoneinfo. VERSION comes from the nearest git tag (else
# the short commit), COMMIT from git; both can be given on the command line.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
RELEASE_ARCHES ?= amd64 arm64
RELEASE_LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

release:
	@mkdir -p dist
	@for arch in $(RELEASE_ARCHES); do \
		echo "release: dist/firebreak-linux-$$arch"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -tags timetzdata \
			-ldflags "$(RELEASE_LDFLAGS)" -o dist/firebreak-linux-$$arch ./cmd/firebreak || exit 1; \
	done
	@ls -l dist/firebreak-linux-*

# The container image, FROM scratch, built by buildah from the same
# Dockerfile and static binary a Docker user builds with `docker build`.
# The CA bundle and an empty /data are staged in dist/image/ (the build
# context cannot reach the host's /etc). IMAGE_ARCH selects the binary,
# rebuilt first (a no-op when it is up to date).
IMAGE ?= localhost/firebreak:$(VERSION)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)

image-context:
	bash deploy/image/context.sh

image: image-context
	@$(MAKE) --no-print-directory release RELEASE_ARCHES=$(IMAGE_ARCH)
	buildah build --quiet --layers=false --build-arg TARGETARCH=$(IMAGE_ARCH) \
		--platform linux/$(IMAGE_ARCH) -f Dockerfile -t $(IMAGE) .
