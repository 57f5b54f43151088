"""Fixtures: one Issuer and one ResourceAPI (the real debug binaries) for the session,
with a user, an admin and an OAuth client made through the issuer CLI."""

from __future__ import annotations

import shutil

import pytest

from interop_stack import ADMIN, USER, Issuer, ResourceAPI, temp_workdir


@pytest.fixture(scope="session")
def workdir():
    path = temp_workdir("interop-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def issuer(workdir):
    issuer = Issuer(workdir / "issuer")
    issuer.add_user(*USER)
    issuer.add_user(*ADMIN, roles=("admin", "user"))
    issuer.secret = issuer.add_client("reporting", scopes=("api", "reports"))
    issuer.start()
    yield issuer
    assert issuer.stop() == 0, "issuer did not exit 0 on SIGTERM"


@pytest.fixture(scope="session")
def api(issuer, workdir):
    api = ResourceAPI(issuer.url, workdir / "api").start()
    yield api
    assert api.stop() == 0, "resource-api did not exit 0 on SIGTERM"
