# zpipe — build, test and run.
#
#   make run     install what is missing, build, start the Zeek-compatible broker
#   make test    install what is missing, build, run every test
#   make bench   benchmarks (broker vs libzmq's zmq_proxy, logger vs Zeek's, plugin boundary, …)
#   make fuzz    every fuzz target for FUZZTIME (default 30s) each
#   make lint    staticcheck at a pinned version
#   make docs    regenerate docs/reference.md from the code

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PLUGINS  := transport-cgo transport-purego codec-zeek codec-json codec-msgpack
PIPELINE ?= pipelines/zeek-broker.hcl
RUNFLAGS ?=
BENCHFLAGS ?=
LOGGERBENCHFLAGS ?=

GOFILES := $(shell find . -name '*.go' -not -path './bin/*' 2>/dev/null)

.PHONY: all deps build run test test-short e2e-otel otelcol bench stress fuzz proto fmt vet lint docs clean

all: build

deps:
	@./scripts/deps.sh

build: $(BIN)/zpipe $(addprefix $(BIN)/zpipe-,$(PLUGINS))

$(BIN)/zpipe: $(GOFILES) go.mod go.sum
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./cmd/zpipe

$(BIN)/zpipe-transport-cgo: $(GOFILES) go.mod go.sum
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./plugins/transport-cgo

# Static, no libzmq: the pure-Go transport must build without cgo.
$(BIN)/zpipe-transport-purego: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $@ ./plugins/transport-purego

$(BIN)/zpipe-codec-zeek: $(GOFILES) go.mod go.sum
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./plugins/codec-zeek

$(BIN)/zpipe-codec-json: $(GOFILES) go.mod go.sum
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./plugins/codec-json

$(BIN)/zpipe-codec-msgpack: $(GOFILES) go.mod go.sum
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./plugins/codec-msgpack

run: deps build
	$(BIN)/zpipe run $(RUNFLAGS) $(PIPELINE)

# Unit, integration and end-to-end tests. End-to-end tests start bin/zpipe
# and its plugins as real processes.
test: deps build vet
	ZPIPE_BIN=$(CURDIR)/$(BIN)/zpipe ZPIPE_PLUGIN_DIR=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -timeout 15m ./...

# The OTLP bridge against a real OpenTelemetry Collector, built from the
# module proxy with the collector's builder (a few minutes the first time;
# cached in .cache/otelcol). Not part of make test.
otelcol:
	@./scripts/build-otelcol.sh

e2e-otel: deps build otelcol
	ZPIPE_BIN=$(CURDIR)/$(BIN)/zpipe ZPIPE_PLUGIN_DIR=$(CURDIR)/$(BIN) \
	ZPIPE_OTELCOL=$(CURDIR)/.cache/otelcol/dist/otelcol-zpipe \
		$(GO) test -count=1 -timeout 10m -tags e2eotel -run '^TestOTel' -v ./test/e2e/

# The overload and fault scenarios of the end-to-end suite at full size,
# one at a time, on both transports: a stalled subscriber, a 30 s log
# burst, SIGTERM with a backlog, 21,000 log paths, an 800 MB frame, a
# flood of 20 million empty frames, 100,000 subscriptions. Prints the table
# of figures against their targets (also kept in .cache/stress.md). Not
# part of make test: it takes a few minutes.
STRESS_TESTS := ^(TestStalledSubscriber|TestLoggerBurstBounded|TestLoggerSIGTERMWritesBacklog|TestLoggerManyPaths|TestOversizeMessages|TestSubscriptionBurst)$$
stress: deps build
	@mkdir -p .cache
	@rm -f .cache/stress.md
	ZPIPE_STRESS=1 ZPIPE_E2E_BURST=30s ZPIPE_STRESS_REPORT=$(CURDIR)/.cache/stress.md \
	ZPIPE_E2E_BROKER=zpipe,zpipe-purego ZPIPE_BIN=$(CURDIR)/$(BIN)/zpipe ZPIPE_PLUGIN_DIR=$(CURDIR)/$(BIN) \
		$(GO) test -count=1 -parallel 1 -timeout 20m -run '$(STRESS_TESTS)' ./test/e2e/; \
		status=$$?; echo; cat .cache/stress.md 2>/dev/null; exit $$status

test-short: build
	$(GO) test -count=1 -short ./...

# Every fuzz target (func Fuzz… in a _test.go file), one after the other,
# each for FUZZTIME. Not part of make test.
FUZZTIME ?= 30s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' --exclude-dir=bin '^func Fuzz' . | sort); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz $$(dirname $$f) $$t for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$(dirname $$f); \
		done; \
	done

bench: deps build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./core/... ./plugins/...
	$(GO) run ./bench/cmd/brokerbench -zpipe $(BIN)/zpipe -plugin-dir $(BIN) -pipeline $(PIPELINE) \
		-zpipe-variant 'zpipe-core=--var passthrough=false' \
		-zpipe-variant 'zpipe-purego=--transport purego' $(BENCHFLAGS)
	$(GO) run ./bench/cmd/otlpbench -zpipe $(BIN)/zpipe -plugin-dir $(BIN)
	$(GO) run ./bench/cmd/loggerbench -zpipe $(BIN)/zpipe -plugin-dir $(BIN) $(LOGGERBENCHFLAGS)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); echo 'gofmt: files above need formatting'; exit 1; }

# staticcheck at a pinned version, run through the module proxy (fetched
# once, then cached). Not a tool dependency in go.mod: its dependencies
# (golang.org/x/tools among them) would then raise the versions the zpipe
# module itself builds with. The e2eotel tag lets it see every file.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) -tags e2eotel ./...

# The component reference (docs/reference.md) is generated from the code's
# schemas, codec descriptions and drop reasons; a test fails when it is stale.
docs:
	$(GO) run ./internal/refgen/cmd/refgen -o docs/reference.md

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

# Regenerates the checked-in protobuf code. Needs protoc (Debian:
# protobuf-compiler); the Go generators are pinned here.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
proto:
	@command -v protoc >/dev/null || { echo 'proto: protoc not found (apt-get install protobuf-compiler)'; exit 1; }
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(CURDIR)/$(BIN)/tools:$$PATH protoc -I core/plugin/proto \
		--go_out=. --go_opt=module=github.com/zpipe/zpipe \
		--go-grpc_out=. --go-grpc_opt=module=github.com/zpipe/zpipe \
		core/plugin/proto/*.proto

clean:
	rm -rf $(BIN)
