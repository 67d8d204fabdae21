# genaimeter: build, run and test the otelcol-genaimeter distribution.
# Needs only Go (and git); ocb and mdatagen are fetched from the Go module proxy.

GO        ?= go
OCB_VERSION := v0.165.0
GOBIN     := $(shell $(GO) env GOPATH)/bin
OCB       ?= $(GOBIN)/builder
TOOLS_MOD := $(CURDIR)/internal/tools/go.mod
DIST      := otelcol-genaimeter
COLLECTOR := bin/$(DIST)
CLI       := bin/genaimeter
CONFIG    ?= config/local.yaml
OTLP_HTTP ?= http://127.0.0.1:4318
# Go sources of the module: a change to any of them rebuilds the collector.
GO_SOURCES := $(shell find . -name '*.go' -not -path './dist/*' -not -path './internal/tools/*') go.mod go.sum builder-config.yaml
# Packages with generated metadata (mdatagen).
COMPONENT_DIRS := receiver/genaialertsreceiver processor/genaicostprocessor connector/genaiusageconnector exporter/genailedgerexporter exporter/genaibillingexporter extension/genaiusageserviceextension

.PHONY: all build run demo screenshots test test-unit bench bench-pipeline bench-profile bench-soak fuzz fuzz-ci generate check-generated reference-check lint tidy clean

all: build

build: $(COLLECTOR) $(CLI)

$(OCB):
	$(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

# ocb generates the distribution's main package under dist/ and compiles it
# with CGO off; every dependency must be pure Go.
$(COLLECTOR): $(OCB) $(GO_SOURCES)
	@mkdir -p dist
	$(OCB) --config=builder-config.yaml
	@mkdir -p bin
	cp dist/$(DIST)/$(DIST) $(COLLECTOR)

$(CLI): $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -o $(CLI) ./cmd/genaimeter

# Runs the collector with the embedded default pipeline (SQLite in ./data).
run: build
	@mkdir -p data
	@echo "web pages: http://127.0.0.1:8790/ui/ (sign in with a key: bin/genaimeter keys create --db ./data/usage.db --admin)"
	$(COLLECTOR) --config=$(CONFIG)

# Replays the captured real-instrumentation spans into a running collector.
demo: $(CLI)
	$(CLI) replay --now --endpoint $(OTLP_HTTP) testdata/realclients/*.otlp.jsonl

# All tests, including the end-to-end tests that run the built collector.
# scripts/test-services.sh installs and starts what they need (PostgreSQL,
# the Node.js app's packages, stripe-mock) and stops it afterwards, so that
# none is skipped. The end-to-end package builds two more ocb manifests on a
# cold cache (test/usermanifest, test/scaleout): hence the longer timeout.
test: build
	scripts/test-services.sh $(GO) test -race -count=1 -timeout 30m ./...

# The README's pictures of the web pages (docs/*.png), taken by the browser
# test in headless Chromium over a ledger the built collector fills.
screenshots: build
	scripts/test-services.sh env GENAIMETER_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run TestWebPagesInChromium ./test/e2e/

test-unit:
	$(GO) test -race -short ./...

# Includes the end-to-end BenchmarkCollector* and BenchmarkScaleOut (built
# collector; PostgreSQL from scripts/test-services.sh).
bench: build
	scripts/test-services.sh $(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# The speed of the whole collector, side by side with a stock collector of the
# same release (README "Speed side by side"): alternating rounds of the stock
# otlp → nop floor, genai_cost alone and the full pipeline into SQLite, on
# LLM-only and mixed traffic, plus the bare SQLite insert of the same row.
# Prints medians; ROUNDS, DURATION (measured window per run), WARMUP and
# BARE_ROWS (rows of the bare insert per round) tune it.
ROUNDS   ?= 5
DURATION ?= 4s
WARMUP   ?= 2s
BARE_ROWS ?= 100000
STOCK    := bin/otelcol-stock
SOAK_COLLECTOR := bin/otelcol-genaimeter-soak
BENCH    := bin/pipelinebench

$(STOCK): $(OCB) test/pipelinebench/stock-builder-config.yaml
	@mkdir -p dist bin
	$(OCB) --config=test/pipelinebench/stock-builder-config.yaml
	cp dist/otelcol-stock/otelcol-stock $(STOCK)

$(SOAK_COLLECTOR): $(OCB) $(GO_SOURCES) test/pipelinebench/soak-builder-config.yaml
	@mkdir -p dist bin
	$(OCB) --config=test/pipelinebench/soak-builder-config.yaml
	cp dist/otelcol-genaimeter-soak/otelcol-genaimeter-soak $(SOAK_COLLECTOR)

$(BENCH): $(GO_SOURCES)
	@mkdir -p bin
	$(GO) build -o $(BENCH) ./test/pipelinebench

bench-pipeline: $(COLLECTOR) $(STOCK) $(BENCH)
	$(BENCH) -stock $(STOCK) -collector $(COLLECTOR) -rounds $(ROUNDS) -duration $(DURATION) -warmup $(WARMUP) -bare-rows $(BARE_ROWS)

# The same, with a CPU profile of every measured window of genai_cost and the
# full pipeline written to PROFILE_DIR (they run on the soak collector, which
# has the pprof extension; profiling costs them a few percent).
# `go tool pprof -top PROFILE_DIR/round1-llm-cost.pprof` reads one.
PROFILE_DIR ?= bench-profiles
bench-profile: $(COLLECTOR) $(STOCK) $(SOAK_COLLECTOR) $(BENCH)
	$(BENCH) -stock $(STOCK) -collector $(COLLECTOR) -soak-collector $(SOAK_COLLECTOR) -profile $(PROFILE_DIR) -rounds $(ROUNDS) -duration $(DURATION) -warmup $(WARMUP) -bare-rows $(BARE_ROWS)

# The soak: the full pipeline at a steady ~1,700 calls/s, 1M calls over
# 10k tenants in about 10 minutes, sampling the collector's RSS and
# goroutine count (pprof extension: bin/otelcol-genaimeter-soak is
# otelcol-genaimeter plus pprof), and whether they stayed flat.
SOAK_CALLS    ?= 1000000
SOAK_TENANTS  ?= 10000
SOAK_DURATION ?= 10m
bench-soak: $(SOAK_COLLECTOR) $(BENCH)
	$(BENCH) -soak -soak-collector $(SOAK_COLLECTOR) -soak-calls $(SOAK_CALLS) -soak-tenants $(SOAK_TENANTS) -soak-duration $(SOAK_DURATION)

# Go native fuzz targets, package:function. Each runs FUZZTIME (go test
# -fuzz runs one target at a time); a crasher fails the run and is written
# to the package's testdata/fuzz/FUNCTION/, to commit with its fix. The
# committed seeds there also run in every plain `go test`.
FUZZ_TARGETS := \
	./internal/genaiconv:FuzzExtract \
	./internal/pricing:FuzzParseGenAIPrices \
	./internal/pricing:FuzzParseLiteLLM \
	./internal/pricing:FuzzParseNative \
	./internal/filemap:FuzzParse \
	./internal/usage:FuzzValidateRecord \
	./processor/genaicostprocessor:FuzzOTLPToRecord \
	./internal/printable:FuzzEscape
FUZZTIME ?= 10m

# Long runs: make fuzz (FUZZTIME=10m per target by default).
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== fuzz $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

# The short run of CI: 20s per target.
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=20s

generate:
	@for d in $(COMPONENT_DIRS); do \
		(cd $$d && $(GO) tool -modfile=$(TOOLS_MOD) mdatagen metadata.yaml) || exit 1; \
	done

# Fails when the generated code is not what mdatagen makes of metadata.yaml.
check-generated: generate
	git diff --exit-code -- $(COMPONENT_DIRS)

# Regenerates the pricing parity cases with the reference calculator
# (@pydantic/genai-prices, pinned in its package-lock.json) and fails if the
# committed expectations differ: the Go parity test checks against them.
REFERENCE_DIR := internal/pricing/testdata/reference
reference-check:
	npm ci --prefix $(REFERENCE_DIR) --no-audit --no-fund --loglevel=error
	cd $(REFERENCE_DIR) && node gen.mjs
	git diff --exit-code -- $(REFERENCE_DIR)

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin dist
