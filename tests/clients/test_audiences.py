"""Resource indicators on every grant (RFC 8707), and tokens good for one API only
(SECURITY.md A.7 #56): a token minted for an API is refused by authgate's own account
endpoints and by another API's check."""

from __future__ import annotations

import jwt
import pytest

from authgate.errors import InvalidScope
from authgate.service.protocol import AuthServiceProtocol
from clients.conftest import BILLING, ORDERS, PASSWORD, Stack
from clients.test_client_credentials import pyjwt_verify


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_password_grant_with_resource_mints_for_that_api_only(stack: Stack) -> None:
    body = stack.user_token(resource=ORDERS)
    claims = pyjwt_verify(stack, body["access_token"], ORDERS)
    assert set(claims["scope"].split()) == {"orders:read", "orders:write"}
    assert "refresh_token" in body  # the first-party session keeps its refresh token
    default = stack.user_token()
    claims = pyjwt_verify(stack, default["access_token"], stack.live.settings.audience)
    assert "billing:read" in claims["scope"]


def test_refresh_grant_with_resource_narrows_and_keeps_the_session(stack: Stack) -> None:
    body = stack.user_token()
    with stack.client() as http:
        form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
        r = http.post("/auth/token", data={**form, "resource": BILLING})
        assert r.status_code == 200, r.text
        claims = pyjwt_verify(stack, r.json()["access_token"], BILLING)
        assert claims["scope"] == "billing:read"
        # Refused before the refresh token is consumed: the new one still works.
        again = {"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]}
        bad = http.post("/auth/token", data={**again, "resource": "https://nowhere.internal"})
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_target")
        assert http.post("/auth/token", data=again).status_code == 200


def test_unknown_resource_on_login_is_invalid_target(stack: Stack) -> None:
    stack.now()
    with stack.client() as http:
        form = {"username": "alice", "password": PASSWORD, "resource": "https://x.internal"}
        r = http.post("/auth/token", data=form)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users/me", None),
        ("POST", "/users/me/password", {"current_password": PASSWORD, "new_password": "x" * 20}),
        ("GET", "/users/me/sessions", None),
        ("POST", "/auth/logout", None),
        ("POST", "/auth/logout-all", None),
    ],
)
def test_an_orders_token_is_refused_by_authgates_own_endpoints(
    stack: Stack, method: str, path: str, body: dict[str, str] | None
) -> None:
    """SECURITY.md A.7 #56 (the server side)."""
    orders = stack.user_token(resource=ORDERS)["access_token"]
    with stack.client() as http:
        r = http.request(method, path, json=body, headers=bearer(orders))
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_token"
        # The same user's default token is accepted (GET only: nothing changes).
        if method == "GET":
            own = stack.user_token()["access_token"]
            assert http.get(path, headers=bearer(own)).status_code == 200


def test_a_client_token_for_orders_is_refused_by_authgate_and_by_billing(stack: Stack) -> None:
    token = stack.cc("reporter").json()["access_token"]
    with stack.client() as http:
        assert http.get("/users/me", headers=bearer(token)).status_code == 401
    with pytest.raises(jwt.InvalidAudienceError):
        pyjwt_verify(stack, token, BILLING)


def test_a_billing_token_at_an_orders_only_check_is_inactive(stack: Stack) -> None:
    """The orders side asks authgate (RFC 7662, authenticated as its client): a token
    minted for billing is not active for it; an orders token is."""
    billing = stack.cc("biller").json()["access_token"]
    orders = stack.cc("poster", scope="orders:write").json()["access_token"]
    with stack.client() as http:
        r = http.post("/auth/introspect", data={"token": billing}, auth=stack.basic("reporter"))
        assert r.json() == {"active": False}
        r = http.post("/auth/introspect", data={"token": orders}, auth=stack.basic("reporter"))
        body = r.json()
        assert body["active"] is True
        assert body["aud"] == ORDERS
        assert body["client_id"] == stack.clients["poster"].client_id


def test_client_revokes_only_its_own_tokens(stack: Stack) -> None:
    mine = stack.cc("reporter").json()["access_token"]
    theirs = stack.cc("poster").json()["access_token"]
    with stack.client() as http:

        def active(token: str) -> bool:
            r = http.post("/auth/introspect", data={"token": token}, auth=stack.basic("reporter"))
            return bool(r.json()["active"])

        # Without client authentication a registered client's token is not revoked.
        assert http.post("/auth/revoke", data={"token": mine}).status_code == 200
        assert active(mine)
        # Another client's token: 200, and nothing happens (RFC 7009 §2.1).
        r = http.post("/auth/revoke", data={"token": theirs}, auth=stack.basic("reporter"))
        assert r.status_code == 200
        assert active(theirs)
        r = http.post("/auth/revoke", data={"token": mine}, auth=stack.basic("reporter"))
        assert r.status_code == 200
        assert not active(mine)
        # A wrong secret at /revoke is invalid_client like anywhere else.
        r = http.post("/auth/revoke", data={"token": theirs}, auth=stack.basic("reporter", "no"))
        assert r.status_code == 401


def test_bearer_introspection_still_needs_the_introspect_scope(stack: Stack) -> None:
    token = stack.user_token()["access_token"]
    with stack.client() as http:
        assert http.post("/auth/introspect", data={"token": token}).status_code == 401
        r = http.post("/auth/introspect", data={"token": token}, headers=bearer(token))
        assert r.status_code == 403


def test_unowned_scopes_are_refused_for_users_once_apis_exist(stack: Stack) -> None:
    async def job(service: AuthServiceProtocol) -> str:
        user = await service.get_user_by_username("alice")
        try:
            await service.set_scopes(user.id, ["orders:read", "made:up"])
        except InvalidScope as exc:
            return exc.code
        return "accepted"

    assert stack.live.call(job) == "invalid_scope"
    with stack.client() as http:
        r = http.post("/users", json={"username": "bob", "password": PASSWORD})
        assert r.status_code == 201  # no default scopes: nothing to refuse


def test_client_introspection_sees_nothing_without_its_api(stack: Stack) -> None:
    token = stack.user_token()["access_token"]  # authgate's own audience
    with stack.client() as http:
        r = http.post("/auth/introspect", data={"token": token}, auth=stack.basic("reporter"))
    assert r.json() == {"active": False}
