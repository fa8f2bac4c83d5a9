# otelcol-mlflow — everything a developer and CI run goes through this file.
SHELL := /bin/bash
GO ?= go
BUILDER_VERSION := v0.165.0
GOBIN := $(shell $(GO) env GOPATH)/bin
BUILDER := $(GOBIN)/builder
BIN := bin/otelcol-mlflow
DIST_DIR := cmd/otelcol-mlflow
CONFIG ?= config/default.yaml
# Go's default is one package per core; the suites are link-heavy, keep it explicit.
TEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build run demo load test unit generate check-generated lint fmt bench fuzz nocgo clean test-server

all: build

$(BUILDER):
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)

# generate runs ocb on builder-config.yaml and keeps only its sources: the
# distribution lives in this repository's single Go module.
generate: $(BUILDER)
	rm -rf _build/ocb && mkdir -p _build
	$(BUILDER) --config builder-config.yaml --skip-compilation --skip-get-modules
	mkdir -p $(DIST_DIR)
	rm -f $(DIST_DIR)/*.go
	cp _build/ocb/*.go $(DIST_DIR)/
	gofmt -w $(DIST_DIR)

# check-generated fails when cmd/otelcol-mlflow is not what ocb makes of builder-config.yaml.
check-generated: $(BUILDER)
	rm -rf _build/ocb && mkdir -p _build
	$(BUILDER) --config builder-config.yaml --skip-compilation --skip-get-modules >/dev/null 2>&1
	gofmt -w _build/ocb
	diff -ru --exclude='*_test.go' --exclude='README*' _build/ocb $(DIST_DIR) || \
		{ echo "cmd/otelcol-mlflow is stale: run 'make generate' and commit"; exit 1; }

build:
	CGO_ENABLED=1 $(GO) build -trimpath -o $(BIN) ./$(DIST_DIR)

bin/mlflow-test-server:
	$(GO) build -o $@ ./cmd/mlflow-test-server

test-server: bin/mlflow-test-server

# run starts the collector with the shipped default config.
run: build
	./$(BIN) --config $(CONFIG)

# demo sends a short real training run (examples/train) to the collector that
# `make run` started in another terminal; both write ./mlruns.
demo:
	$(GO) run ./examples/train -config examples/train/config.yaml -out ./data/demo

# load drives the real binary with OTel SDK senders into the MLflow test server
# and prints sustained points/s and requests per 1000 points.
LOAD_FLAGS ?= -duration 20s -senders 4 -steps 2500
load: build
	$(GO) run ./tools/loaddriver -bin $(BIN) $(LOAD_FLAGS)

# Gateway case: N concurrent runs x M series through one collector with a
# persistent queue, into the test server as a fake Databricks workspace.
LOAD_GATEWAY_FLAGS ?= -runs 100 -series 10 -databricks -duration 75s
load-gateway: build
	$(GO) run ./tools/loaddriver -bin $(BIN) $(LOAD_GATEWAY_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# nocgo proves the distribution still compiles without cgo (GPU support then absent).
nocgo:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./$(DIST_DIR)
	CGO_ENABLED=0 $(GO) vet ./receiver/...

# The end-to-end tests (test/e2e) run the binary that `build` just made.
unit: build
	OTELCOL_BIN=$(CURDIR)/$(BIN) $(GO) test $(TEST_FLAGS) ./...

# Short fuzz runs of every fuzz target, as CI does them (tools/fuzz.sh).
FUZZTIME ?= 10s
# Each new interesting input is minimized before fuzzing goes on, for up to
# 60 s by default: one long string input took FuzzTranslate's whole run
# (628 execs, then "0/sec"); 2 s gave 7,794 execs and 58 new inputs in 20 s.
FUZZMINIMIZE ?= 2s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINIMIZE=$(FUZZMINIMIZE) tools/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# conformance-record records how a real MLflow server answers the cases of
# internal/conformance into testdata/conformance/$(VERSION); the replay test
# (go test ./internal/conformance) checks the test server against them.
# Example: make conformance-record MLFLOW_URL=http://127.0.0.1:5029 VERSION=2.9.2
.PHONY: conformance-record
conformance-record:
	@test -n "$(MLFLOW_URL)" -a -n "$(VERSION)" || { echo "usage: make conformance-record MLFLOW_URL=http://host:port VERSION=x.y.z"; exit 2; }
	CGO_ENABLED=0 $(GO) run ./tools/conformance -url $(MLFLOW_URL) -out testdata/conformance/$(VERSION)

# test is everything CI runs.
test: lint check-generated nocgo unit fuzz

clean:
	rm -rf bin _build
