#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ with AddressSanitizer and runs each for
# SECONDS (default 60). New inputs go to a scratch corpus; the committed seeds in
# Fuzz/corpus/ stay small. Prints one line per target with its executions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
targets=(FuzzToken FuzzJWKSet FuzzJSON FuzzAuthorization FuzzRequestBody)
corpus_for() {
    case "$1" in
        FuzzToken) echo token ;;
        FuzzJWKSet) echo jwks ;;
        FuzzJSON) echo json ;;
        FuzzAuthorization) echo authorization ;;
        FuzzRequestBody) echo body ;;
    esac
}

swift build --package-path Fuzz --sanitize=fuzzer --sanitize=address 2>&1 | grep -vE "^\[|^Building|unhandled|ld.gold: warning" || true
bin="$(swift build --package-path Fuzz --sanitize=fuzzer --sanitize=address --show-bin-path)"
scratch="${FUZZ_WORK_DIR:-Fuzz/.work}"
mkdir -p "$scratch"

# The Swift runtime's own crash handler confuses AddressSanitizer's report; libFuzzer
# already prints the stack and saves the input.
export SWIFT_BACKTRACE=enable=no
status=0
for target in "${targets[@]}"; do
    name="$(corpus_for "$target")"
    mkdir -p "$scratch/$name" "$scratch/crashes"
    log="$scratch/$target.log"
    if "$bin/$target" "$scratch/$name" "Fuzz/corpus/$name" -max_total_time="$seconds" -max_len=16384 \
        -artifact_prefix="$scratch/crashes/$target-" -print_final_stats=1 >"$log" 2>&1; then
        runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo '?')"
        echo "fuzz $target: ok, $runs executions in ${seconds}s"
    else
        echo "fuzz $target: FAILED (see $log; crash inputs in $scratch/crashes)"
        tail -30 "$log"
        status=1
    fi
done
exit $status
