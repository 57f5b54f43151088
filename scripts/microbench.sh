#!/usr/bin/env bash
# `make microbench`: the micro-benchmarks of Benchmarks/ (ordo-one/package-benchmark),
# pinned to core ${SERVER_CPU:-0}, then checked against the thresholds in
# Benchmarks/Thresholds (exit 2 on a regression beyond the tolerances in the code).
#   --results DIR   also export the run (jmh JSON) to DIR, for scripts/bench/micro_summary.py
#   --update        rewrite the thresholds from this run instead of checking them
#   --no-check      run and export only
# Not part of `make test`: it builds package-benchmark and takes a minute or two.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/Benchmarks"
results=; mode=check
while [ $# -gt 0 ]; do
    case "$1" in
        --results) results=$2; shift ;;
        --update) mode=update ;;
        --no-check) mode=none ;;
        *) echo "usage: microbench.sh [--results DIR] [--update|--no-check]" >&2; exit 2 ;;
    esac
    shift
done
CPU=${SERVER_CPU:-0}
log() { echo "[microbench] $*" >&2; }


bench() { taskset -c "$CPU" swift package --disable-sandbox --allow-writing-to-package-directory benchmark "$@"; }
if [ -n "$results" ]; then
    rm -rf "$results"; mkdir -p "$results"
    log "run, export to $results"
    bench --format jmh --path "$results" --no-progress >&2
    python3 "$ROOT/scripts/bench/micro_summary.py" "$results"
fi
case "$mode" in
    check)
        log "thresholds check (Benchmarks/Thresholds)"
        # package-benchmark exits 1 for a regression and for an improvement alike; tell
        # them apart by its message: 2 for a regression, 4 for improvements only.
        out=$(bench thresholds check --path "$ROOT/Benchmarks/Thresholds" --no-progress 2>&1) && rc=0 || rc=$?
        printf '%s\n' "$out" >&2
        if [ "$rc" != 0 ]; then
            if grep -q "benchmarkThresholdRegression\|is WORSE than" <<<"$out"; then exit 2; fi
            if grep -q "benchmarkThresholdImprovement\|is BETTER than" <<<"$out"; then exit 4; fi
            exit "$rc"
        fi ;;
    update)
        log "thresholds update (Benchmarks/Thresholds)"
        bench thresholds update --path "$ROOT/Benchmarks/Thresholds" --no-progress ;;
esac
