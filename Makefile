# `make test` is the one command CI runs (.ci/run) and a new machine needs:
# it installs what the tests drive for real, builds and caches test
# binaries, then runs the whole suite with the race detector.
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: test setup check unit fuzz playbook-tests build run bench

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
