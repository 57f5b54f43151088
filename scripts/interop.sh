#!/usr/bin/env bash
# The Python suites of issue 7 against the real binaries: interop (PyJWT, joserfc,
# authlib), OpenAPI route checks and schemathesis, load and SIGKILL faults.
# BIN_DIR: directory of `issuer` and `resource-api` (default: the debug build's bin path;
# build them first, as `make test` does). Extra arguments go to pytest.
# Budgets: LOAD_SECONDS, KILL_CYCLES, SCHEMATHESIS_MAX_EXAMPLES (see `make soak`).
set -euo pipefail
cd "$(dirname "$0")/.."

python="$(scripts/python-env.sh | tail -n 1)"
if [ -z "${BIN_DIR:-}" ]; then
    BIN_DIR="$(${SWIFT:-swift} build --show-bin-path)"
fi
export BIN_DIR
for binary in issuer resource-api; do
    if [ ! -x "$BIN_DIR/$binary" ]; then
        echo "interop: $BIN_DIR/$binary is missing; build first (swift build) or set BIN_DIR" >&2
        exit 1
    fi
done
echo "interop: binaries from $BIN_DIR"
# INTEROP_PATHS: the test files to run (default: all of tests/interop).
read -r -a paths <<<"${INTEROP_PATHS:-tests/interop}"
exec "$python" -m pytest -p no:cacheprovider -q -rA --tb=short "${paths[@]}" "$@"
