#!/usr/bin/env bash
# `make test`: every suite of the project, in order, each run even when an earlier one
# failed, then one closing line `make test: N passed, N failed` (the counts of Swift
# Testing, pytest and the fuzz smoke runs). Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"
export SWIFT

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
passed=0
failed=0
broken_steps=()

# Runs one step, showing its output and keeping a copy to count from.
step() {
    local name="$1"
    shift
    echo "==> $name: $*"
    "$@" 2>&1 | tee "$logs/$name.log"
    local status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ]; then broken_steps+=("$name (exit $status)"); fi
    return 0
}

count_swift() {
    local log="$1" total failures
    total="$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)"
    failures="$(grep -E '^✘ Test ' "$log" | grep -c 'failed after' || true)"
    total="${total:-0}"
    passed=$((passed + total - failures))
    failed=$((failed + failures))
}

count_pytest() {
    local log="$1" line
    while IFS= read -r line; do
        local p f
        p="$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+' || echo 0)"
        f="$(echo "$line" | grep -Eo '[0-9]+ (failed|errors?)' | awk '{ sum += $1 } END { print sum + 0 }')"
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
    # The last summary only: schemathesis runs inside a test and prints its own.
    done < <(grep -E '^(=+ )?([0-9]+ (passed|failed|errors?|skipped)(, )?)+.* in [0-9.]+s' "$log" | tail -n 1)
}

count_fuzz() {
    local log="$1"
    passed=$((passed + $(grep -Ec '^fuzz .*: ok' "$log" || true)))
    failed=$((failed + $(grep -Ec '^fuzz .*: FAILED' "$log" || true)))
}

step build "$SWIFT" build --build-tests
if [ -f "$logs/build.log" ] && [ ${#broken_steps[@]} -eq 0 ]; then
    step swift "$SWIFT" test --skip-build ${SWIFT_TEST_FLAGS:-}
    count_swift "$logs/swift.log"
    # The same answers with the fast path off (every request through Hummingbird's router).
    step swift-router-only env EDGE_FAST_PATH=off "$SWIFT" test --skip-build ${SWIFT_TEST_FLAGS:-} \
        --filter 'EndpointTests|ErrorsTableTests|AttackCorpusTests|EdgeConventionTests|ConnectionLimitTests|FastPathTests'
    count_swift "$logs/swift-router-only.log"
    # PostgreSQL (issue 9): a throwaway cluster, the store conformance and replica suites.
    step postgres scripts/postgres-test.sh --skip-build
    count_swift "$logs/postgres.log"
    step stack scripts/stack-tests.sh
    count_pytest "$logs/stack.log"
    step interop scripts/interop.sh
    count_pytest "$logs/interop.log"
    # The client libraries again with both services on HTTPS (a CA made at test time).
    step interop-tls env INTEROP_TLS=1 INTEROP_PATHS=tests/interop/test_interop.py scripts/interop.sh
    count_pytest "$logs/interop-tls.log"
fi
step fuzz scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-5}"
count_fuzz "$logs/fuzz.log"

if [ ${#broken_steps[@]} -gt 0 ]; then
    echo "failed steps: ${broken_steps[*]}"
    [ "$failed" -eq 0 ] && failed=1
fi
echo "make test: $passed passed, $failed failed"
[ ${#broken_steps[@]} -eq 0 ]
