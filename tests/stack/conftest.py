"""Fixtures of the stack tests; the helpers are in stack_support.py."""

import os

import pytest

from stack_support import Stack, bin_dir


@pytest.fixture(scope="session")
def binaries() -> dict:
    """Paths of the three executables; fails loudly when one is missing."""
    directory = bin_dir()
    found = {}
    for name in ("issuer", "resource-api", "rotation-drill"):
        path = directory / name
        assert path.is_file() and os.access(path, os.X_OK), (
            f"{path} is missing: build first (swift build), or set BIN_DIR to the folder of the debug binaries"
        )
        found[name] = str(path)
    return found


@pytest.fixture
def stack(binaries, tmp_path):
    created = Stack(binaries, tmp_path)
    yield created
    codes = created.stop_all()
    for name, code in codes.items():
        assert code == 0, f"{name} exited with {code} after SIGTERM (the contract asks for 0)"
