# The two commands of the contract: `make run` and `make test`.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=

.PHONY: all deps build release test run bench clean fuzz fuzz-smoke interop soak

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Every test suite of the project; exits non-zero on any failure.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(SWIFT_TEST_FLAGS)
	SWIFT="$(SWIFT)" scripts/stack-tests.sh
	$(MAKE) interop
	$(MAKE) fuzz-smoke

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

clean:
	rm -rf .build
