"""Interop with JOSE/OAuth implementations nobody on this project wrote: PyJWT, joserfc
and authlib against the real Issuer and ResourceAPI binaries."""

from __future__ import annotations

import json
import time

import jwt as pyjwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet, RSAKey

from interop_stack import USER, JWKSServer, ResourceAPI, b64url, b64url_decode, jwt_parts

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def discover(issuer) -> tuple[dict, dict]:
    metadata = requests.get(issuer.url + "/.well-known/openid-configuration", timeout=5).json()
    jwks = requests.get(metadata["jwks_uri"], timeout=5).json()
    return metadata, jwks


# MARK: discovery and the JWK Set


def test_discovery_documents_agree(issuer):
    openid = requests.get(issuer.url + "/.well-known/openid-configuration", timeout=5)
    oauth = requests.get(issuer.url + "/.well-known/oauth-authorization-server", timeout=5)
    assert openid.status_code == oauth.status_code == 200
    metadata = openid.json()
    assert metadata == oauth.json()
    assert metadata["issuer"] == issuer.url
    assert metadata["jwks_uri"].startswith(issuer.url)
    assert metadata["token_endpoint"] == issuer.url + "/token"
    assert metadata["revocation_endpoint"] == issuer.url + "/revoke"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "password" not in metadata["grant_types_supported"]
    assert {"refresh_token", "client_credentials"} <= set(metadata["grant_types_supported"])


def test_discovery_is_valid_rfc8414_metadata_for_authlib(issuer):
    """authlib's own RFC 8414 class validates every member it knows (issuer, endpoints,
    response_types_supported non-empty, grant types...) on both discovery documents."""
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = requests.get(issuer.url + path, timeout=5)
        assert response.status_code == 200
        metadata = AuthorizationServerMetadata(response.json())
        metadata.validate()
        # No authorization endpoint: no response type that needs one is announced.
        assert metadata["response_types_supported"] == ["none"]
        assert "authorization_endpoint" not in metadata
    # The Issuer goes on answering after the checks.
    assert requests.get(issuer.url + "/healthz", timeout=5).status_code == 200


def test_jwks_has_no_private_member_and_exact_members(issuer):
    _, jwks = discover(issuer)
    assert len(jwks["keys"]) >= 2  # active and next
    for key in jwks["keys"]:
        assert not PRIVATE_MEMBERS & key.keys(), f"private member in {key['kid']}"
        assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}
        assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")
        assert len(b64url_decode(key["n"])) * 8 >= 2048
        # joserfc imports it as a public key only.
        imported = RSAKey.import_key(key)
        assert not imported.is_private


def test_kid_is_the_rfc7638_thumbprint_joserfc_computes(issuer):
    _, jwks = discover(issuer)
    for key in jwks["keys"]:
        assert RSAKey.import_key(key).thumbprint() == key["kid"]
    # PyJWT agrees on the key material: the same modulus and exponent.
    for key in jwks["keys"]:
        public = pyjwt.PyJWK(key).key.public_numbers()
        assert public.n == int.from_bytes(b64url_decode(key["n"]), "big")


def test_jwks_cache_headers_and_etag(issuer):
    r = requests.get(issuer.url + "/.well-known/jwks.json", timeout=5)
    assert r.status_code == 200
    assert "max-age=" in r.headers["Cache-Control"]
    etag = r.headers["ETag"]
    again = requests.get(issuer.url + "/.well-known/jwks.json", headers={"If-None-Match": etag}, timeout=5)
    assert again.status_code == 304


# MARK: tokens from the Issuer, verified by others


def test_login_token_verifies_with_pyjwt_through_discovery(issuer):
    metadata, _ = discover(issuer)
    tokens = issuer.login(*USER)
    client = pyjwt.PyJWKClient(metadata["jwks_uri"])
    signing_key = client.get_signing_key_from_jwt(tokens["access_token"])
    claims = pyjwt.decode(
        tokens["access_token"], signing_key.key, algorithms=["RS256"], audience="resource-api",
        issuer=metadata["issuer"], options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    header = pyjwt.get_unverified_header(tokens["access_token"])
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": signing_key.key_id}
    assert claims["sub"] == USER[0]
    assert claims["client_id"] == "login"
    assert claims["scope"]
    assert isinstance(claims["roles"], list) and "user" in claims["roles"]
    assert claims["exp"] - claims["iat"] == tokens["expires_in"] == 300
    assert len(b64url_decode(claims["jti"])) == 16  # 128 random bits
    assert tokens["token_type"] == "Bearer"


def test_login_token_verifies_with_joserfc_and_claims_registry(issuer):
    metadata, jwks = discover(issuer)
    tokens = issuer.login(*USER)
    keyset = KeySet.import_key_set(jwks)
    token = jose_jwt.decode(tokens["access_token"], keyset, algorithms=["RS256"])
    assert token.header["typ"] == "at+jwt"
    assert token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": "resource-api"},
        sub={"essential": True, "value": USER[0]},
        exp={"essential": True},
        jti={"essential": True},
    )
    registry.validate(token.claims)


def test_pyjwt_refuses_issuer_token_under_wrong_audience(issuer):
    metadata, _ = discover(issuer)
    token = issuer.login(*USER)["access_token"]
    key = pyjwt.PyJWKClient(metadata["jwks_uri"]).get_signing_key_from_jwt(token).key
    with pytest.raises(pyjwt.InvalidAudienceError):
        pyjwt.decode(token, key, algorithms=["RS256"], audience="someone-else")


def test_token_response_is_not_cached(issuer):
    r = requests.post(issuer.url + "/login", json={"username": USER[0], "password": USER[1]}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"


# MARK: authlib's OAuth2 client against /token


def test_authlib_client_credentials(issuer, api):
    metadata, jwks = discover(issuer)
    session = OAuth2Session(
        client_id="reporting", client_secret=issuer.secret, token_endpoint_auth_method="client_secret_basic", scope="api",
    )
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token
    claims = jose_jwt.decode(token["access_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["sub"] == claims["client_id"] == "reporting"
    assert claims["scope"] == "api"
    # authlib attaches the token: the ResourceAPI greets the client.
    greeting = session.get(api.url + "/api/greet", timeout=5)
    assert greeting.status_code == 200
    assert greeting.text == "hi reporting!"


def test_authlib_client_credentials_wrong_secret_is_invalid_client(issuer):
    metadata, _ = discover(issuer)
    session = OAuth2Session(client_id="reporting", client_secret="wrong", token_endpoint_auth_method="client_secret_basic")
    with pytest.raises(Exception) as raised:
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert "invalid_client" in str(raised.value)


def test_authlib_refresh_token_rotation_and_reuse(issuer, api):
    metadata, _ = discover(issuer)
    first = issuer.login(*USER)
    session = OAuth2Session(client_id="login", token_endpoint_auth_method="none", token=first)
    second = session.refresh_token(metadata["token_endpoint"], refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert api.greet(second["access_token"]).text == f"hi {USER[0]}!"
    # The old one stops working; presenting it revokes the session (reuse detection).
    reuse = requests.post(
        metadata["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, timeout=5,
    )
    assert reuse.status_code in (400, 401)
    assert reuse.json()["error"] == "invalid_grant"
    after = requests.post(
        metadata["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}, timeout=5,
    )
    assert after.json()["error"] == "invalid_grant"


def test_token_endpoint_refuses_password_grant(issuer):
    r = requests.post(
        issuer.url + "/token", data={"grant_type": "password", "username": USER[0], "password": USER[1]}, timeout=5,
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


# MARK: tokens minted by joserfc, verified by the ResourceAPI


def mint(key: RSAKey, kid: str, issuer: str, **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer, "sub": "py-user", "aud": "resource-api", "exp": now + 120, "iat": now, "nbf": now,
        "jti": b64url(__import__("os").urandom(16)), "client_id": "py-client", "scope": "api", "roles": ["user"],
    }
    claims.update(overrides)
    return jose_jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": kid}, claims, key)


@pytest.fixture(scope="module")
def foreign(workdir):
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True)
    kid = key.thumbprint()
    public = key.as_dict(private=False)
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    issuer = "https://py-issuer.interop.test"
    with JWKSServer({"keys": [public]}) as server:
        api = ResourceAPI(
            server.url, workdir / "foreign-api",
            extra=["--jwks-url", server.url + "/jwks.json", "--expected-issuer", issuer],
        ).start()
        yield key, kid, issuer, api, server
        assert api.stop() == 0


def test_joserfc_minted_token_is_accepted(foreign):
    key, kid, issuer, api, server = foreign
    token = mint(key, kid, issuer)
    r = api.greet(token)
    assert r.status_code == 200, r.text
    assert r.text == "hi py-user!"
    me = requests.get(api.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert me.status_code == 200
    assert me.json()["sub"] == "py-user"
    assert any(path.startswith("/jwks.json") for path in server.requests)


def test_pyjwt_minted_token_is_accepted(foreign):
    key, kid, issuer, api, _ = foreign
    now = int(time.time())
    pem = key.as_pem(private=True)
    token = pyjwt.encode(
        {"iss": issuer, "sub": "pyjwt-user", "aud": "resource-api", "exp": now + 60, "iat": now, "jti": "abc123abc123",
         "client_id": "pyjwt", "scope": "api", "roles": []},
        pem, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"},
    )
    assert api.greet(token).text == "hi pyjwt-user!"


@pytest.mark.parametrize("alteration", ["payload", "signature", "header", "claims-resigned-by-other-key"])
def test_altered_joserfc_token_is_refused(foreign, alteration):
    key, kid, issuer, api, _ = foreign
    token = mint(key, kid, issuer)
    header, payload, signature = token.split(".")
    if alteration == "payload":
        claims = json.loads(b64url_decode(payload))
        claims["sub"] = "admin"
        claims["roles"] = ["admin"]
        altered = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    elif alteration == "signature":
        raw = bytearray(b64url_decode(signature))
        raw[-1] ^= 0x01
        altered = f"{header}.{payload}.{b64url(bytes(raw))}"
    elif alteration == "header":
        head = json.loads(b64url_decode(header))
        head["typ"] = "JWT"
        altered = f"{b64url(json.dumps(head).encode())}.{payload}.{signature}"
    else:
        other = RSAKey.generate_key(2048, private=True)
        altered = mint(other, kid, issuer)
    r = api.greet(altered)
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="resource-api", error="invalid_token"')
    assert r.json()["error"] == "invalid_token"
    # The genuine token still works.
    assert api.greet(token).status_code == 200


def test_joserfc_token_with_wrong_issuer_or_expired_is_refused(foreign):
    key, kid, issuer, api, _ = foreign
    assert api.greet(mint(key, kid, "https://someone-else.test")).status_code == 401
    assert api.greet(mint(key, kid, issuer, exp=int(time.time()) - 3600)).status_code == 401
    assert api.greet(mint(key, kid, issuer, aud=["other"])).status_code == 401


def test_issuer_token_accepted_by_resource_api_and_lowercase_scheme(issuer, api):
    token = issuer.login(*USER)["access_token"]
    assert api.greet(token).text == f"hi {USER[0]}!"
    assert api.greet(token, scheme="bearer").status_code == 200
    ready = requests.get(api.url + "/readyz", timeout=5).json()
    assert jwt_parts(token)[0]["kid"] in ready["kids"]


def test_new_key_in_foreign_jwks_is_fetched_on_unknown_kid(foreign):
    """A key the JWKS server starts publishing later: the first token naming its kid makes
    the ResourceAPI fetch the set again (unknown kid, at most once per jwks-min-refresh)."""
    key, kid, issuer, api, server = foreign
    second = RSAKey.generate_key(2048, private=True)
    second_kid = second.thumbprint()
    public = second.as_dict(private=False)
    public.update({"kid": second_kid, "use": "sig", "alg": "RS256"})
    token = mint(second, second_kid, issuer)
    time.sleep(1.1)  # past jwks-min-refresh (1s) since any earlier fetch
    assert api.greet(token).status_code == 401  # not published yet
    server.jwks = {"keys": server.jwks["keys"] + [public]}
    deadline = time.monotonic() + 5
    status = None
    while time.monotonic() < deadline:
        status = api.greet(token).status_code
        if status == 200:
            break
        time.sleep(0.25)
    assert status == 200
    assert api.greet(mint(key, kid, issuer)).status_code == 200  # the first key still works


def test_rotation_seen_by_pyjwt_and_resource_api(issuer, api):
    """`issuer keys rotate --force` on the running Issuer (picked up within 5 s): new tokens
    carry the new kid, PyJWKClient refetches for it, and the ResourceAPI accepts them."""
    metadata, jwks_before = discover(issuer)
    old_token = issuer.login(*USER)["access_token"]
    old_kid = jwt_parts(old_token)[0]["kid"]
    issuer.cli("keys", "rotate", "--force")
    issuer.process.send_signal(__import__("signal").SIGHUP)
    deadline = time.monotonic() + 8
    new_token = old_token
    while time.monotonic() < deadline:
        new_token = issuer.login(*USER)["access_token"]
        if jwt_parts(new_token)[0]["kid"] != old_kid:
            break
        time.sleep(0.25)
    new_kid = jwt_parts(new_token)[0]["kid"]
    assert new_kid != old_kid
    client = pyjwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False)
    for token in (old_token, new_token):
        key = client.get_signing_key_from_jwt(token).key
        pyjwt.decode(token, key, algorithms=["RS256"], audience="resource-api", issuer=metadata["issuer"])
        assert api.greet(token).status_code == 200
    _, jwks_after = discover(issuer)
    assert old_kid in {k["kid"] for k in jwks_after["keys"]}  # retiring, still published
    for key in jwks_after["keys"]:
        assert RSAKey.import_key(key).thumbprint() == key["kid"]
        assert not PRIVATE_MEMBERS & key.keys()
