"""The OpenAPI documents in openapi/ against the code and the live services:
every documented operation is a registered route and every registered route is
documented (read from the router registrations and probed live), and schemathesis
runs a bounded number of generated requests against both services: no 5xx, and every
response conforms to the document (status, content type, headers, schema)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from interop_stack import REPO, Issuer, ResourceAPI, temp_workdir

DOCUMENTS = {
    "issuer": REPO / "openapi" / "issuer.yaml",
    "resource-api": REPO / "openapi" / "resource-api.yaml",
}
METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))


def documented(name: str) -> set[tuple[str, str]]:
    spec = yaml.safe_load(DOCUMENTS[name].read_text())
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in METHODS}


def registered(name: str) -> set[tuple[str, str]]:
    """Routes as the Swift code registers them (`router.get("/x")`, `api.get("y")` under /api)."""
    routes = set()
    if name == "issuer":
        source = (REPO / "Sources" / "IssuerCore" / "Routes" / "IssuerRoutes.swift").read_text()
        # The route table: ("/login", .post, self.login), ... (IssuerRoutes.routes).
        for path, method in re.findall(r'\(\s*"(/[^"]*)"\s*,\s*\.(get|post|put|delete|patch)\b', source):
            routes.add((method.upper(), path))
    else:
        source = (REPO / "Sources" / "ResourceAPICore" / "HTTP" / "ResourceAPI.swift").read_text()
        groups = dict(re.findall(r'let (\w+) = router\.group\("([^"]+)"\)', source))
        for receiver, method, path in re.findall(r'\b(\w+)\.(get|post|put|delete|patch)\("([^"]+)"', source):
            if receiver == "router":
                routes.add((method.upper(), "/" + path.lstrip("/")))
            elif receiver in groups:
                routes.add((method.upper(), "/" + groups[receiver].strip("/") + "/" + path.lstrip("/")))
    return routes


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_documents_are_valid_openapi(name):
    """Valid OpenAPI 3 (openapi-spec-validator), not only valid YAML: a flow mapping split at
    a comma parses as YAML yet is no Response Object."""
    from openapi_spec_validator import validate

    spec = yaml.safe_load(DOCUMENTS[name].read_text())
    validate(spec)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                assert "$ref" in response or isinstance(response.get("description"), str), f"{method} {path} {status}"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_documents_match_router_registrations(name):
    code, docs = registered(name), documented(name)
    assert code, f"no routes found in the {name} sources (did the registration style change?)"
    assert docs - code == set(), f"documented but not registered: {sorted(docs - code)}"
    assert code - docs == set(), f"registered but not documented: {sorted(code - docs)}"


@pytest.fixture(scope="module")
def schema_stack():
    """Own Issuer and ResourceAPI: schemathesis logs out, rotates keys and trips the login limiter."""
    workdir = temp_workdir("schemas-")
    issuer = Issuer(workdir / "issuer")
    issuer.add_user("schema-admin", "schema-admin-password", roles=("admin", "user"))
    issuer.add_user("schema-user", "schema-user-password", roles=("user",))
    issuer.add_client("schema-client", scopes=("api",))
    issuer.start()
    api = ResourceAPI(issuer.url, workdir / "api").start()
    yield issuer, api
    assert api.stop() == 0
    assert issuer.stop() == 0
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_documented_operations_exist_live_and_others_do_not(schema_stack, name):
    issuer, api = schema_stack
    base = issuer.url if name == "issuer" else api.url
    for method, path in sorted(documented(name)):
        r = requests.request(method, base + path, timeout=10)
        assert r.status_code not in (404, 405), f"{method} {path}: {r.status_code}"
        assert r.status_code < 500, f"{method} {path}: {r.status_code}"
    # Methods the document does not list on a documented path are not served.
    operations = documented(name)
    for path in sorted({path for _, path in operations}):
        for method in ("GET", "POST", "PUT", "DELETE"):
            if (method, path) not in operations:
                r = requests.request(method, base + path, timeout=10)
                assert r.status_code in (404, 405), f"undocumented {method} {path}: {r.status_code}"
    for path in ["/nope", "/api/nope", "/.well-known/nope", "/admin/nope"]:
        assert requests.get(base + path, timeout=10).status_code == 404, path
    assert requests.delete(base + "/healthz", timeout=10).status_code in (404, 405)


def run_schemathesis(document: Path, base_url: str, token: str | None, workdir: Path) -> subprocess.CompletedProcess:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", str(document), "--base-url", base_url,
        "--hypothesis-max-examples", str(MAX_EXAMPLES),
        "--hypothesis-derandomize", "--hypothesis-deadline", "None", "--data-generation-method", "all",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_headers_conformance,response_schema_conformance",
        *(["--header", f"Authorization: Bearer {token}"] if token else []),
        "--request-timeout", "10000",
        "--no-color",
        "--junit-xml", str(workdir / f"schemathesis-{document.stem}.xml"),
    ]
    env = dict(
        os.environ, SCHEMATHESIS_TELEMETRY="false", HYPOTHESIS_STORAGE_DIRECTORY=str(workdir / ".hypothesis"),
        SCHEMATHESIS_HOOKS="schemathesis_hooks",
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=workdir)


@pytest.mark.parametrize("name, who", [
    ("resource-api", "schema-admin"), ("resource-api", "schema-user"), ("resource-api", None), ("issuer", "schema-admin"),
])
def test_schemathesis_against_live_service(schema_stack, name, who, tmp_path):
    """The ResourceAPI as an admin (200s), a plain user (403 on /api/admin/greet) and with no
    token (401s with the RFC 6750 challenge); the Issuer with an admin token, positive and
    negative data."""
    issuer, api = schema_stack
    token = issuer.login(who, who + "-password")["access_token"] if who else None
    base = api.url if name == "resource-api" else issuer.url
    result = run_schemathesis(DOCUMENTS[name], base, token, tmp_path)
    summary = "\n".join(line for line in result.stdout.splitlines()[-40:])
    print(summary)
    assert result.returncode == 0, f"schemathesis found problems in {name}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    # The services are still up and answering afterwards.
    assert requests.get(issuer.url + "/readyz", timeout=5).status_code == 200
    assert requests.get(api.url + "/readyz", timeout=5).status_code == 200
