"""Token exchange (RFC 8693): a gateway trades a user's token for one meant for a
downstream API, never wider in scope or longer-lived than the subject token, and
ended with the user's session."""

from __future__ import annotations

from typing import Any

import httpx

from clients.conftest import BILLING, ORDERS, Stack
from clients.test_client_credentials import pyjwt_verify

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


def exchange(stack: Stack, subject: str, client: str = "gateway", **form: str) -> httpx.Response:
    fields = {"subject_token": subject, "subject_token_type": ACCESS, **form}
    with stack.client() as http:
        return http.post("/auth/token", **stack.authenticated(client, EXCHANGE, fields))


def test_exchange_mints_a_narrower_token_for_the_target_acting_as_the_gateway(
    stack: Stack,
) -> None:
    subject = stack.user_token()["access_token"]
    sub_claims = pyjwt_verify(stack, subject, stack.live.settings.audience)
    r = exchange(stack, subject, resource=ORDERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS  # RFC 8693 §2.2.1
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    claims = pyjwt_verify(stack, body["access_token"], ORDERS)
    gateway = stack.clients["gateway"].client_id
    assert claims["sub"] == sub_claims["sub"]
    assert claims["act"] == {"sub": gateway}
    assert claims["client_id"] == gateway
    assert claims["scope"] == "orders:read"  # subject's ∩ gateway's ∩ orders'
    assert claims["sid"] == sub_claims["sid"]
    assert claims["exp"] <= sub_claims["exp"]

    # Exchanged again, the orders token as subject: for orders it nests the actors
    # (§4.1); for billing it is refused (the subject carries no billing scope).
    again = exchange(stack, body["access_token"], resource=ORDERS)
    assert again.status_code == 200, again.text
    nested = pyjwt_verify(stack, again.json()["access_token"], ORDERS)
    assert nested["act"] == {"sub": gateway, "act": {"sub": gateway}}
    refused = exchange(stack, body["access_token"], resource=BILLING)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")


def test_exchange_cannot_widen_scope_or_expiry(stack: Stack) -> None:
    subject = stack.user_token(scope="orders:read")["access_token"]
    r = exchange(stack, subject, resource=ORDERS, scope="orders:write")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_scope")
    r = exchange(stack, subject, resource=BILLING)  # the subject has no billing scope
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")
    sub_claims = pyjwt_verify(stack, subject, stack.live.settings.audience)
    stack.live.clock.advance(stack.live.settings.access_token_ttl - 60)
    r = exchange(stack, subject, resource=ORDERS)
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] <= 60
    assert pyjwt_verify(stack, r.json()["access_token"], ORDERS)["exp"] <= sub_claims["exp"]
    stack.live.clock.advance(120)  # the subject token has expired
    r = exchange(stack, subject, resource=ORDERS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


def test_ending_the_users_session_revokes_exchanged_tokens(stack: Stack) -> None:
    subject = stack.user_token()["access_token"]
    exchanged = exchange(stack, subject, resource=ORDERS).json()["access_token"]

    def active(token: str) -> Any:
        with stack.client() as http:
            r = http.post("/auth/introspect", data={"token": token}, auth=stack.basic("reporter"))
            return r.json()["active"]

    assert active(exchanged) is True
    with stack.client() as http:
        r = http.post("/auth/logout", headers={"Authorization": f"Bearer {subject}"})
        assert r.status_code == 204
    assert active(exchanged) is False
    r = exchange(stack, subject, resource=ORDERS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


def test_exchange_needs_an_allowed_authenticated_client_and_a_valid_subject(stack: Stack) -> None:
    subject = stack.user_token()["access_token"]
    r = exchange(stack, subject, client="reporter", resource=ORDERS)  # not allowed the grant
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")
    with stack.client() as http:
        fields = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS}
        r = http.post("/auth/token", data=fields)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    r = exchange(stack, subject[:-4] + "AAAA", resource=ORDERS)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    r = exchange(stack, subject, resource=ORDERS, subject_token_type="urn:x")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = exchange(stack, subject, resource="https://nowhere.internal")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_target")
