# The two commands of the contract: `make run` and `make test`.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=

.PHONY: all deps build release test run bench microbench microbench-update clean fuzz fuzz-smoke interop soak

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Every test suite of the project; exits non-zero on any failure.
## Swift suites, stack tests, interop, fuzz smoke: each runs, then one closing line.
test: deps
	SWIFT="$(SWIFT)" SWIFT_TEST_FLAGS="$(SWIFT_TEST_FLAGS)" scripts/test-all.sh

## Python suites against the real binaries (BIN_DIR, default the debug build): interop with
## PyJWT/joserfc/authlib, OpenAPI + schemathesis, load and SIGKILL faults. Short budgets.
interop: deps
	SWIFT="$(SWIFT)" scripts/interop.sh

## The same with long budgets: a minute per load run, ten kill/restart cycles, more examples.
SOAK_SECONDS ?= 60
soak: deps
	$(SWIFT) build
	LOAD_SECONDS=$(SOAK_SECONDS) KILL_CYCLES=10 SCHEMATHESIS_MAX_EXAMPLES=300 FUZZ_EXAMPLES=5000 SWIFT="$(SWIFT)" scripts/interop.sh

FUZZ_SECONDS ?= 60

## libFuzzer targets with AddressSanitizer, FUZZ_SECONDS each.
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

## The same targets briefly, as part of `make test`.
fuzz-smoke: deps
	scripts/fuzz.sh 5

## The local stack: Issuer on 127.0.0.1:8081, ResourceAPI on 127.0.0.1:8082.
run: release
	@scripts/run-local.sh

## Performance (issue 8): our services and the anchors under wrk in one run, then one table
## of ratios against the targets (scripts/bench.sh; knobs there). RESULTS_OUT=bench/RESULTS.md
## also writes the page. Needs a quiet machine.
bench: deps
	scripts/bench.sh

## Micro-benchmarks (Benchmarks/, package-benchmark) checked against Benchmarks/Thresholds.
microbench: deps
	scripts/microbench.sh

microbench-update: deps
	scripts/microbench.sh --update

clean:
	rm -rf .build
