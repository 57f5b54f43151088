#!/usr/bin/env bash
# Creates .venv with the Python packages of the interop, schema and load tests (from PyPI),
# when it is missing or incomplete. python3-venv (and wrk, for the load tests; they fall
# back to a Python client without it) are installed with apt when run as root.
# Safe to run again; prints the venv's python on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV_DIR:-.venv}"
requirements="tests/interop/requirements.txt"
stamp="$venv/.requirements.sha256"

# wrk is optional: installed when we can; the load tests fall back to Python without it.
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && [ -z "${NO_APT:-}" ]; then
    echo "installing: wrk" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq --no-install-recommends wrk || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk; }; } >/dev/null 2>&1 \
        || echo "wrk not installed; the load tests use the Python client" >&2
fi

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$venv/bin/python"
    exit 0
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "python3-venv is missing; install it with: sudo apt-get install -y python3-venv" >&2
        exit 1
    fi
    echo "installing: python3-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Debian names the package after the minor version on some releases (python3.11-venv).
    minor="$(python3 -c 'import sys; print(f"python{sys.version_info.major}.{sys.version_info.minor}-venv")')"
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 \
        || apt-get install -y -qq --no-install-recommends "$minor" >/dev/null
fi

rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
