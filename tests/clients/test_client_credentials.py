"""client_credentials (RFC 6749 §4.4) with each client authentication method, against
a real uvicorn server, with Authlib's own client and PyJWT on the other side
(SECURITY.md A.7 #55)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # type: ignore[import-untyped]

from authgate.service.client_auth import CLIENT_TTL
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.registry import secret_digest
from authgate.tokens import Key, KeyRing, TokenCodec, generate_key
from clients.conftest import BILLING, ORDERS, Stack
from server.conftest import PASSWORD

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def pyjwt_verify(stack: Stack, token: str, audience: str) -> dict[str, Any]:
    """A third party's check: PyJWT with the server's published JWK Set."""
    with stack.client() as http:
        jwks = http.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = jwt.PyJWK(jwk)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[jwk["alg"]],
        audience=audience,
        issuer=stack.live.settings.issuer,
        leeway=120,
        options={"verify_iat": False, "verify_exp": False},
    )
    return claims


def assertion(stack: Stack, key: Key, **override: Any) -> str:
    """A client assertion signed with ``key`` (RFC 7523 §3), claims overridable."""
    client_id = stack.clients["keyed"].client_id
    now = int(stack.now())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": stack.published_token_endpoint,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    claims.update(override)
    claims = {k: v for k, v in claims.items() if v is not None}
    codec = TokenCodec(KeyRing.single(key), issuer="x", audience="x")
    return codec.encode(claims, typ="JWT")


def jwt_grant(stack: Stack, token: str) -> httpx.Response:
    with stack.client() as http:
        return http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": token,
            },
        )


@pytest.mark.parametrize(
    ("name", "method"),
    [("reporter", "client_secret_basic"), ("poster", "client_secret_post")],
)
def test_authlib_client_gets_a_token_for_its_api_and_pyjwt_verifies_it(
    stack: Stack, name: str, method: str
) -> None:
    client_id, secret = stack.basic(name)
    stack.now()
    with OAuth2Client(client_id, secret, token_endpoint_auth_method=method) as oauth:
        token = oauth.fetch_token(stack.token_url, grant_type="client_credentials")
    assert "refresh_token" not in token  # RFC 6749 §4.4.3
    assert token["token_type"] == "Bearer"
    claims = pyjwt_verify(stack, token["access_token"], ORDERS)
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["aud"] == ORDERS
    assert set(claims["scope"].split()) <= {"orders:read", "orders:write"}
    with pytest.raises(jwt.InvalidAudienceError):
        pyjwt_verify(stack, token["access_token"], BILLING)


def test_authlib_private_key_jwt_rs256_default_assertion(stack: Stack) -> None:
    keyed = stack.clients["keyed"]
    assert keyed.key is not None
    stack.now()
    with OAuth2Client(
        keyed.client_id,
        keyed.key.private_pem().decode(),
        token_endpoint_auth_method="private_key_jwt",
    ) as oauth:
        # The assertion names the published token endpoint (RFC 7523 §3 item 3).
        oauth.register_client_auth_method(PrivateKeyJWT(stack.published_token_endpoint))
        token = oauth.fetch_token(stack.token_url, grant_type="client_credentials")
    claims = pyjwt_verify(stack, token["access_token"], ORDERS)
    assert claims["sub"] == keyed.client_id
    with stack.client() as http:
        meta = http.get("/.well-known/oauth-authorization-server").json()
    assert meta["token_endpoint"] == stack.published_token_endpoint
    assert "RS256" in meta["token_endpoint_auth_signing_alg_values_supported"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert claims["scope"] == "orders:read"


def test_wrong_secret_is_invalid_client_with_a_basic_challenge(stack: Stack) -> None:
    client_id, _ = stack.basic("biller")
    with stack.client() as http:
        r = http.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "nope")
        )
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_client"
        assert r.headers["www-authenticate"].startswith("Basic realm=")
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
        r = http.post("/auth/token", data=form)
        assert r.status_code == 401
        assert "www-authenticate" not in r.headers  # not Basic: no Basic challenge
        r = http.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x")
        )
        assert r.status_code == 401


def test_basic_with_an_empty_secret_is_the_public_first_party_client(stack: Stack) -> None:
    # Swagger UI's password flow sends "Authorization: Basic Og==" (":"): a public
    # client, not a failed client authentication (a Basic challenge would make the
    # browser prompt). It logs in like no client at all, and earns nothing more.
    stack.user_token()  # alice exists
    with stack.client() as http:
        for auth in (("", ""), ("authgate", "")):
            r = http.post(
                "/auth/token",
                data={"grant_type": "password", "username": "alice", "password": PASSWORD},
                auth=auth,
            )
            assert r.status_code == 200, r.text
            assert "refresh_token" in r.json()
            r = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=auth)
            assert r.status_code == 401
            assert r.json()["error"] == "invalid_client"
            assert "www-authenticate" not in r.headers


def test_secret_of_a_basic_client_percent_decoded_and_method_enforced(stack: Stack) -> None:
    client_id, secret = stack.basic("reporter")
    with stack.client() as http:
        # RFC 6749 §2.3.1: id and secret are form-encoded before base64.
        encoded = (client_id.replace("-", "%2D"), secret.replace("_", "%5F"))
        r = http.post("/auth/token", data={"grant_type": "client_credentials"}, auth=encoded)
        assert r.status_code == 200, r.text
        # A basic client may not send its secret in the body.
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        assert http.post("/auth/token", data=form).status_code == 401


def test_two_authentication_methods_are_invalid_request(stack: Stack) -> None:
    client_id, secret = stack.basic("reporter")
    with stack.client() as http:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        r = http.post("/auth/token", data=form, auth=(client_id, secret))
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_client_assertion_attacks_are_invalid_client(stack: Stack) -> None:
    keyed = stack.clients["keyed"]
    assert keyed.key is not None
    good = assertion(stack, keyed.key)
    assert jwt_grant(stack, good).status_code == 200
    now = int(stack.now())
    refused = {
        "replayed": good,
        "another key": assertion(stack, generate_key("RS256")),
        "expired": assertion(stack, keyed.key, iat=now - 600, exp=now - 120),
        "exp too far": assertion(stack, keyed.key, exp=now + 2 * 3600),
        "no exp": assertion(stack, keyed.key, exp=None),
        "no jti": assertion(stack, keyed.key, jti=None),
        "wrong aud": assertion(stack, keyed.key, aud="https://elsewhere.example/token"),
        "iss not the client": assertion(stack, keyed.key, iss="someone"),
    }
    for what, token in refused.items():
        r = jwt_grant(stack, token)
        assert (r.status_code, r.json().get("error")) == (401, "invalid_client"), what
    # The issuer is an accepted audience too (RFC 7523 §3 item 3).
    ok = assertion(stack, keyed.key, aud=stack.live.settings.issuer)
    assert jwt_grant(stack, ok).status_code == 200


def test_a_burst_of_one_assertion_yields_exactly_one_token(stack: Stack) -> None:
    keyed = stack.clients["keyed"]
    assert keyed.key is not None
    token = assertion(stack, keyed.key)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": token,
    }

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            replies = await asyncio.gather(
                *(http.post("/auth/token", data=form) for _ in range(20))
            )
        return [r.status_code for r in replies]

    codes = asyncio.run(burst())
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 401, 429}


def test_scope_outside_the_clients_is_invalid_scope(stack: Stack) -> None:
    r = stack.cc("reporter", scope="orders:write")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = stack.cc("reporter", scope="orders:read")
    assert r.status_code == 200
    assert r.json()["scope"] == "orders:read"


def test_resource_outside_reach_is_invalid_target(stack: Stack) -> None:
    for resource in (BILLING, "https://unknown.internal", "authgate"):
        r = stack.cc("reporter", resource=resource)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_target"), resource
    # Scopes of two APIs: the client must name one (RFC 8707).
    r = stack.cc("spread")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")
    r = stack.cc("spread", resource=BILLING)
    assert r.status_code == 200
    claims = pyjwt_verify(stack, r.json()["access_token"], BILLING)
    assert claims["scope"] == "billing:read"


def test_a_grant_the_client_may_not_use_is_unauthorized_client(stack: Stack) -> None:
    r = stack.cc("gateway")  # token-exchange only
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")
    with stack.client() as http:
        form = {"grant_type": "password", "username": "alice", "password": "x"}
        r = http.post("/auth/token", data=form, auth=stack.basic("reporter"))
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")


@pytest.mark.parametrize(
    "grant",
    [
        "urn:authgate:params:oauth:grant-type:mfa",
        "urn:authgate:params:oauth:grant-type:webauthn",
    ],
)
def test_the_login_steps_are_refused_to_a_registered_client(stack: Stack, grant: str) -> None:
    """The second step and the passkey login are the first-party login's (RFC 9700
    §2.4; draft-ietf-oauth-first-party-apps' first-party rule): a registered client,
    authenticated, gets ``unauthorized_client`` before its form is read."""
    form = {"grant_type": grant, "mfa_token": "x", "otp": "123456", "assertion": "{}"}
    with stack.client() as http:
        r = http.post("/auth/token", data=form, auth=stack.basic("reporter"))
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")


def test_client_credentials_without_client_authentication_is_invalid_client(stack: Stack) -> None:
    with stack.client() as http:
        r = http.post("/auth/token", data={"grant_type": "client_credentials"})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


def test_sixty_parallel_wrong_secrets_are_throttled(fresh_stack: Any) -> None:
    with fresh_stack() as stack:
        client_id, secret = stack.basic("biller")
        limit = stack.live.settings.throttle.max_failures

        async def burst() -> list[int]:
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
                replies = await asyncio.gather(
                    *(
                        http.post(
                            "/auth/token",
                            data={"grant_type": "client_credentials"},
                            auth=(client_id, f"wrong-{i}"),
                        )
                        for i in range(60)
                    )
                )
            return [r.status_code for r in replies]

        codes = asyncio.run(burst())
        assert set(codes) <= {401, 429}
        assert codes.count(401) <= limit, codes  # at most the limit reached the check
        assert codes.count(429) >= 60 - limit
        # Blocked now, the right secret included.
        assert stack.cc("biller").status_code == 429
        assert secret


def test_a_rotated_secret_stops_at_once_here_and_within_the_client_ttl_elsewhere(
    fresh_stack: Any,
) -> None:
    with fresh_stack() as stack:
        client_id, old = stack.basic("reporter")
        assert stack.cc("reporter").status_code == 200  # the row is now remembered

        async def rotate(service: AuthServiceProtocol) -> str:
            _, secret = await service.registry.rotate_secret("reporter")
            return secret

        new = stack.live.call(rotate)  # through this service: applies at once
        stack.clients["reporter"].secret = new
        with stack.client() as http:
            form = {"grant_type": "client_credentials"}
            assert http.post("/auth/token", data=form, auth=(client_id, old)).status_code == 401
            assert http.post("/auth/token", data=form, auth=(client_id, new)).status_code == 200

            async def elsewhere(service: AuthServiceProtocol) -> None:
                # What `authgate clients rotate-secret` in another process does.
                async with service.db.write() as tx:  # type: ignore[attr-defined]
                    await tx.registry.set_secret(client_id, secret_digest("another"))

            stack.live.call(elsewhere)
            stack.live.clock.advance(CLIENT_TTL)
            assert http.post("/auth/token", data=form, auth=(client_id, new)).status_code == 401
            ok = http.post("/auth/token", data=form, auth=(client_id, "another"))
            assert ok.status_code == 200
