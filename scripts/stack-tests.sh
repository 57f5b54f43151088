#!/usr/bin/env bash
# The stack tests of `make test`, after the Swift suites: the compose file, scripts/run-local.sh,
# the rotation drill against the two-process stack, and the compose topology (tests/stack).
# Uses the debug binaries `swift build` just made (BIN_DIR overrides). Installs pytest and
# PyYAML when they are missing, jsonschema for the drill's report schema, and Debian's chromium
# (as root) for the drill's HTML page.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT="${SWIFT:-swift}"
if [ -z "${BIN_DIR:-}" ]; then
    BIN_DIR="$($SWIFT build --show-bin-path)"
fi
export BIN_DIR
for binary in issuer resource-api rotation-drill; do
    if [ ! -x "$BIN_DIR/$binary" ]; then
        echo "stack-tests: $BIN_DIR/$binary is missing; run 'swift build' first" >&2
        exit 1
    fi
done

python=python3
if ! command -v "$python" >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
    else
        echo "stack-tests: python3 is missing (sudo apt-get install python3)" >&2
        exit 1
    fi
fi

have_modules() { "$python" -c 'import pytest, yaml, jsonschema' >/dev/null 2>&1; }
if ! have_modules; then
    echo "stack-tests: installing pytest and PyYAML"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pytest python3-yaml python3-jsonschema >/dev/null || true
    fi
    if ! have_modules; then
        # Debian marks the system Python as externally managed: use a project venv instead.
        if [ ! -x .venv/bin/python ]; then "$python" -m venv .venv; fi
        .venv/bin/python -m pip install -q pytest pyyaml jsonschema
        python=.venv/bin/python
    fi
fi

# The drill's --html page is opened in a real browser (headless Chromium).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "stack-tests: installing chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null || true
fi

exec "$python" -m pytest -q -p no:cacheprovider tests/stack "$@"
