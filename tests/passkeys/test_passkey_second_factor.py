"""A passkey as the second step of a password login (``webauthn`` among the
``mfa_methods``), and the ``amr`` / ``acr`` a passkey login carries (RFC 8176,
RFC 9470): with the real software authenticator, over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from server.conftest import LiveServer

from ._authenticator import SoftAuthenticator
from .conftest import (
    ISSUER,
    MFA_GRANT,
    claims,
    enrol,
    mfa_required,
    second_step,
    sign_in,
    signed_up,
)


def test_a_password_login_of_a_user_with_a_passkey_goes_on_with_the_passkey(
    live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "second-step")
        created = enrol(c, token, auth).json()
        body = mfa_required(c, "second-step")
        assert "webauthn" in body["mfa_methods"]
        r = c.post("/auth/passkey/options", json={"mfa_token": body["mfa_token"]})
        options = r.json()
        assert [d["id"] for d in options["allowCredentials"]] == [created["id"]]
        assert options["userVerification"] == "preferred"
        r = second_step(c, body["mfa_token"], auth)
        assert r.status_code == 200, r.text
        pair = r.json()
        assert claims(pair["access_token"])["amr"] == ["pwd", "hwk", "mfa"]
        refreshed = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        ).json()
        assert claims(refreshed["access_token"])["amr"] == ["pwd", "hwk", "mfa"]
        assert claims(refreshed["access_token"])["acr"] == claims(pair["access_token"])["acr"]


def test_the_second_step_is_refused_for_a_replayed_or_foreign_assertion(
    live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "second-replay")
        assert enrol(c, token, auth).status_code == 201
        first = mfa_required(c, "second-replay")["mfa_token"]
        r = c.post("/auth/passkey/options", json={"mfa_token": first})
        assertion = json.dumps(auth.get(r.json()))
        form = {"grant_type": MFA_GRANT, "mfa_token": first, "webauthn": assertion}
        assert c.post("/auth/token", data=form).status_code == 200
        assert c.post("/auth/token", data=form).json()["error"] == "invalid_grant"
        # The assertion signed the first login's challenge: another login refuses it.
        second = mfa_required(c, "second-replay")["mfa_token"]
        form = {"grant_type": MFA_GRANT, "mfa_token": second, "webauthn": assertion}
        r = c.post("/auth/token", data=form)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        # ... and the genuine second step of that login still works.
        assert second_step(c, second, auth).status_code == 200


def test_another_users_passkey_is_not_a_second_factor(live: LiveServer) -> None:
    victim_key, attacker_key = SoftAuthenticator(origin=ISSUER), SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        victim = signed_up(live, c, "second-victim")
        assert enrol(c, victim, victim_key).status_code == 201
        attacker = signed_up(live, c, "second-attacker")
        assert enrol(c, attacker, attacker_key).status_code == 201
        pending = mfa_required(c, "second-victim")["mfa_token"]
        r = second_step(c, pending, attacker_key)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "lie",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"sign_count": 0}],
    ids=["origin", "rp-id", "counter"],
)
def test_the_second_step_checks_the_ceremony(live: LiveServer, lie: dict[str, Any]) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    username = f"second-{next(iter(lie))}"
    with live.client() as c:
        token = signed_up(live, c, username.replace("_", "-"))
        assert enrol(c, token, auth).status_code == 201
        pending = mfa_required(c, username.replace("_", "-"))["mfa_token"]
        r = second_step(c, pending, auth, **lie)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        # A wrong proof leaves the mfa_token usable (mfa_login's rule).
        assert second_step(c, pending, auth).status_code == 200


def test_second_step_options_need_a_live_mfa_token(live: LiveServer) -> None:
    with live.client() as c:
        for bad in ("x" * 43, "short", ""):
            r = c.post("/auth/passkey/options", json={"mfa_token": bad})
            assert r.status_code == 400, r.text
        assert c.post("/auth/passkey/options", json=[]).status_code == 400
        assert c.post("/auth/passkey/options", content=b"{nope").status_code == 400


def test_a_burst_of_one_second_step_signs_in_once(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "second-burst")
        assert enrol(c, token, auth).status_code == 201
        pending = mfa_required(c, "second-burst")["mfa_token"]
        options = c.post("/auth/passkey/options", json={"mfa_token": pending}).json()
        form = {
            "grant_type": MFA_GRANT,
            "mfa_token": pending,
            "webauthn": json.dumps(auth.get(options)),
        }

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as ac:
            answers = await asyncio.gather(*(ac.post("/auth/token", data=form) for _ in range(10)))
        return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 400, 429}, codes


@pytest.mark.parametrize(
    ("synced", "verified", "amr"),
    [
        (False, True, ["hwk", "user"]),
        (True, True, ["swk", "user"]),
    ],
)
def test_a_passkey_login_says_how_it_authenticated(
    live: LiveServer, synced: bool, verified: bool, amr: list[str]
) -> None:
    auth = SoftAuthenticator(origin=ISSUER, backup_eligible=synced)
    with live.client() as c:
        token = signed_up(live, c, f"amr-{synced}-{verified}".lower())
        assert enrol(c, token, auth).status_code == 201
        r = sign_in(c, auth, user_verified=verified)
        assert r.status_code == 200, r.text
        pair = r.json()
        assert claims(pair["access_token"])["amr"] == amr
        refreshed = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        ).json()
        assert claims(refreshed["access_token"])["amr"] == amr
