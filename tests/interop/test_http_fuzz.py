"""Property-based fuzzing over real HTTP (hypothesis, bounded and derandomized): the
`Authorization` header parse and verification of the live ResourceAPI, and the Issuer's
JSON and form body parsing. The libFuzzer targets in Fuzz/ cover SharedJWT in-process;
these reach the same code through the HTTP stack of the running binaries.

Properties: never a 5xx, never a hang, every error a JSON body; any token that differs
from a valid one is refused; the services keep answering afterwards.
FUZZ_EXAMPLES (default 300) bounds each property.
"""

from __future__ import annotations

import json
import os
import socket

import requests

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop_stack import USER, Issuer, ResourceAPI, temp_workdir

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def raw_request(port: int, request: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection (Connection: close); status 0 if closed without answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
        except OSError:
            pass  # answered and closed before reading everything
        data = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    if b"\r\n\r\n" not in data:
        return 0, {}, data
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def greet_request(port: int, authorization: bytes) -> bytes:
    return b"GET /api/greet HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: " + authorization + b"\r\n\r\n"


def assert_json_error(status: int, headers: dict, body: bytes) -> None:
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:200])
    document = json.loads(body)
    assert isinstance(document["error"], str) and isinstance(document["error_description"], str)


def is_http_layer_refusal(status: int, headers: dict, body: bytes) -> bool:
    """swift-nio's parser refuses malformed HTTP (control characters in a header) before any
    route; the edge answers 400 with the JSON error body and Connection: close. Allowed for
    bytes HTTP itself forbids."""
    if status != 400 or headers.get("connection") != "close":
        return False
    assert_json_error(status, headers, body)
    return json.loads(body)["error_description"] == "malformed HTTP request"


header_bytes = st.binary(min_size=0, max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)


@SETTINGS
@given(value=st.one_of(header_bytes, header_text.map(str.encode), header_text.map(lambda t: b"Bearer " + t.encode())))
def test_random_authorization_headers_are_refused_cleanly(api, value):
    status, headers, body = raw_request(api.port, greet_request(api.port, value))
    assert status != 0, "no answer"
    assert status < 500, (value, status, body[:200])
    assert status != 200, value
    if is_http_layer_refusal(status, headers, body):
        assert any(b < 0x20 and b != 0x09 or b == 0x7F for b in value), (value, "refused by the HTTP layer without a reason")
        return
    assert status in (400, 401), (value, status)
    assert headers["www-authenticate"].startswith('Bearer realm="resource-api"')
    assert_json_error(status, headers, body)


@pytest.fixture(scope="module")
def valid_token(issuer):
    return issuer.login(*USER)["access_token"]


@pytest.fixture(scope="module")
def fuzz_stack():
    """Own Issuer and ResourceAPI: random logins may trip the per-address login limiter."""
    workdir = temp_workdir("fuzz-")
    issuer = Issuer(workdir / "issuer")
    issuer.add_user(*USER)
    issuer.start()
    api = ResourceAPI(issuer.url, workdir / "api").start()
    yield issuer, api
    assert api.stop() == 0
    assert issuer.stop() == 0
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def issuer(fuzz_stack):
    return fuzz_stack[0]


@pytest.fixture(scope="module")
def api(fuzz_stack):
    return fuzz_stack[1]


edits = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "replace"]),
        st.integers(min_value=0, max_value=10_000),
        st.sampled_from(list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/~")),
    ),
    min_size=1, max_size=4,
)


@SETTINGS
@given(changes=edits)
def test_any_mutation_of_a_valid_token_is_refused(api, valid_token, changes):
    token = bytearray(valid_token.encode())
    for kind, position, byte in changes:
        index = position % (len(token) + (1 if kind == "insert" else 0)) if token else 0
        if kind == "flip" and token:
            token[index % len(token)] ^= 0x01 if chr(token[index % len(token)] ^ 0x01).isalnum() else 0x00
        elif kind == "insert":
            token.insert(index, byte)
        elif kind == "delete" and len(token) > 1:
            del token[index % len(token)]
        elif kind == "replace" and token:
            token[index % len(token)] = byte
    mutated = bytes(token)
    status, headers, body = raw_request(api.port, greet_request(api.port, b"Bearer " + mutated))
    if mutated == valid_token.encode():
        assert status == 200
        return
    assert status in (400, 401), (mutated, status, body[:200])
    assert_json_error(status, headers, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
login_bodies = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["username", "password", "extra"]), json_values, max_size=3).map(lambda d: json.dumps(d).encode()),
    st.text(max_size=200).map(str.encode),
)
content_types = st.sampled_from([
    b"application/json", b"application/x-www-form-urlencoded", b"application/json; charset=utf-8", b"text/plain",
    b"multipart/form-data; boundary=x", b"", b"application/json\x80",
])


@SETTINGS
@given(path=st.sampled_from([b"/login", b"/token", b"/refresh", b"/revoke", b"/logout"]), content_type=content_types, body=login_bodies)
def test_random_issuer_bodies_never_fail_the_server(issuer, path, content_type, body):
    request = (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: " + content_type
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    status, headers, response = raw_request(issuer.port, request)
    assert status != 0, "no answer"
    assert status < 500, (path, content_type, body[:200], status, response[:200])
    if is_http_layer_refusal(status, headers, response):
        assert any(b < 0x20 or b == 0x7F for b in content_type) or b"\x80" in content_type
        return
    if status in (200, 204):
        return  # e.g. /revoke answers 200 for any token (RFC 7009)
    assert_json_error(status, headers, response)


def test_services_still_answer_after_fuzzing(issuer, api, valid_token):
    assert api.greet(valid_token).status_code == 200
    assert requests.get(issuer.url + "/readyz", timeout=5).status_code == 200
    # 429 is a fair answer if the random logins tripped the per-address limiter.
    login = requests.post(issuer.url + "/login", json={"username": USER[0], "password": USER[1]}, timeout=10)
    assert login.status_code in (200, 429)
