"""The clone stands alone (issue 19): its docs state the promise, nothing names a folder
beside the clone, keys/ keeps private keys out of git, and the executables say their version."""

import re
import shutil
import subprocess

import pytest

from stack_support import REPO

# The benchmark script may use the comparison servers found beside the clone; it says they
# are optional and runs without them.
MAY_NAME_SHARED = {"scripts/bench.sh", "tests/stack/test_repository.py"}  # and this file's pattern
TEXT_SUFFIXES = {".md", ".swift", ".py", ".sh", ".yaml", ".yml", ".txt", ".json", ".toml", ".ini", ""}


def tracked_files() -> list:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git clone: the tracked files cannot be listed")
    listing = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if line]


def test_no_file_names_a_folder_beside_the_clone():
    offenders = []
    for name in tracked_files():
        path = REPO / name
        if name in MAY_NAME_SHARED or path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if re.search(r"\.\./shared|/work/shared", text):
            offenders.append(name)
    assert offenders == [], f"these files name the folder beside the clone: {offenders}"


def test_readme_links_the_contract_and_contributing():
    readme = (REPO / "README.md").read_text()
    assert "docs/CONTRACT.md" in readme
    assert "CONTRIBUTING.md" in readme
    assert (REPO / "docs" / "CONTRACT.md").is_file()
    assert (REPO / "CONTRIBUTING.md").is_file()
    assert not (REPO / "docs" / "HELPERS.md").exists()


def test_keys_gitignore_keeps_everything_but_itself_and_the_readme():
    tracked_files()  # skips outside a git clone
    assert (REPO / "keys" / ".gitignore").is_file()

    def ignored(relative: str) -> bool:
        # --no-index: judged by the rules alone, whether or not such a file exists.
        result = subprocess.run(["git", "check-ignore", "-q", "--no-index", relative], cwd=REPO)
        return result.returncode == 0

    for secret in ("keys/a1b2.pem", "keys/keyset.json", "keys/policy.json", "keys/.lock", "keys/anything"):
        assert ignored(secret), f"{secret} is not ignored"
    for kept in ("keys/README.md", "keys/.gitignore"):
        assert not ignored(kept), f"{kept} is ignored"


def test_every_executable_reports_one_version(binaries):
    versions = {}
    for name, path in binaries.items():
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{name} --version: exit {result.returncode}, {result.stderr}"
        versions[name] = result.stdout.strip()
        assert re.fullmatch(r"\d+\.\d+\.\d+", versions[name]), f"{name} --version printed {result.stdout!r}"
    assert len(set(versions.values())) == 1, versions
    source = (REPO / "Sources" / "ServiceSupport" / "Version" / "ServiceVersion.swift").read_text()
    assert f'"{versions["issuer"]}"' in source
