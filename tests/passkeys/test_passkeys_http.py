"""Passkeys over HTTP, with a real software authenticator (an EC P-256 key signing
real authenticatorData and clientDataJSON) through the real WebAuthn verification:
register, manage, sign in, and every refusal of W3C WebAuthn L3 §7.1 / §7.2."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from authgate.service import AuthService
from server.conftest import PASSWORD, LiveServer

from ._authenticator import SoftAuthenticator
from .conftest import (
    ISSUER,
    RP_ID,
    bearer,
    delete_passkey,
    enrol,
    login_options,
    passkey_grant,
    sign_in,
    signed_up,
)


def events(live: LiveServer, user_id: str | None, event: str) -> list[dict[str, Any]]:
    async def job(service: Any) -> list[dict[str, Any]]:
        s: AuthService = service
        async with s.db.read() as tx:
            rows = await tx.audit.events(user=user_id, event=event, limit=100)
        return [json.loads(r.detail) for r in rows]

    return live.call(job)


def user_id(c: httpx.Client, token: str) -> str:
    r = c.get("/users/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    uid: str = r.json()["id"]
    return uid


# -- registration and management -------------------------------------------------------


def test_creation_options_ask_for_a_discoverable_credential_without_attestation(
    live: LiveServer,
) -> None:
    with live.client() as c:
        token = signed_up(live, c, "opts-user")
        r = c.post(
            "/users/me/passkeys/options",
            json={"current_password": PASSWORD},
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        options = r.json()
        assert options["rp"]["id"] == RP_ID
        assert options["attestation"] == "none"
        selection = options["authenticatorSelection"]
        assert selection["residentKey"] == "required"
        assert selection["userVerification"] == "preferred"
        assert options["excludeCredentials"] == []
        assert len(options["challenge"]) >= 43  # 32 random bytes


def test_register_list_rename_delete_a_passkey(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "manage-user")
        r = enrol(c, token, auth)
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["name"] == "laptop"
        assert created["transports"] == ["internal"]
        listed = c.get("/users/me/passkeys", headers=bearer(token)).json()
        assert [p["id"] for p in listed] == [created["id"]]
        # Its id is now excluded from the next creation options (§5.4.3).
        r = c.post(
            "/users/me/passkeys/options",
            json={"current_password": PASSWORD},
            headers=bearer(token),
        )
        assert [d["id"] for d in r.json()["excludeCredentials"]] == [created["id"]]
        r = c.patch(
            f"/users/me/passkeys/{created['id']}",
            json={"name": "  work  key "},
            headers=bearer(token),
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "work key"
        # The account's last second factor: deleted with the current password only
        # (SECURITY.md A.7 #58).
        r = delete_passkey(c, token, created["id"])
        assert r.status_code == 422
        assert "current_password is required" in r.json()["error_description"]
        assert delete_passkey(c, token, created["id"], PASSWORD).status_code == 204
        assert c.get("/users/me/passkeys", headers=bearer(token)).json() == []
        uid = user_id(c, token)
    assert [e["credential"] for e in events(live, uid, "passkey_registered")] == [created["id"]]
    assert [e["credential"] for e in events(live, uid, "passkey_deleted")] == [created["id"]]


def test_registration_needs_the_password_or_a_fresh_login(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "reauth-user")
        # Within the re-authentication window of the login: no password needed.
        r = c.post("/users/me/passkeys/options", json={}, headers=bearer(token))
        assert r.status_code == 200, r.text
        live.clock.advance(live.settings.webauthn.reauth_window + 1)
        token = c.post(
            "/auth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": live.login(c, "reauth-user")["refresh_token"],
            },
        ).json()["access_token"]
        live.clock.advance(live.settings.webauthn.reauth_window + 1)
        r = c.post("/users/me/passkeys/options", json={}, headers=bearer(token))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_credentials"
        r = c.post(
            "/users/me/passkeys/options",
            json={"current_password": "not-the-password-at-all"},
            headers=bearer(token),
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_credentials"
        assert enrol(c, token, auth).status_code == 201
        r = c.post("/users/me/passkeys/options", json={})
        assert r.status_code == 401


def test_registration_is_refused_for_a_wrong_origin_rp_id_or_reused_challenge(
    live: LiveServer,
) -> None:
    with live.client() as c:
        token = signed_up(live, c, "reg-attacks")
        for create in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
            r = enrol(c, token, SoftAuthenticator(origin=ISSUER), **create)
            assert r.status_code == 422, r.text
        auth = SoftAuthenticator(origin=ISSUER)
        options = c.post(
            "/users/me/passkeys/options",
            json={"current_password": PASSWORD},
            headers=bearer(token),
        ).json()
        credential = auth.create(options)
        body = {"credential": credential, "name": "once"}
        assert c.post("/users/me/passkeys", json=body, headers=bearer(token)).status_code == 201
        again = c.post("/users/me/passkeys", json=body, headers=bearer(token))
        assert again.status_code == 422
        assert "challenge" in again.json()["error_description"]
        # Another user cannot complete this user's ceremony.
        other = signed_up(live, c, "reg-attacks-2")
        options = c.post(
            "/users/me/passkeys/options",
            json={"current_password": PASSWORD},
            headers=bearer(token),
        ).json()
        body = {"credential": auth.create(options), "name": "theirs"}
        assert c.post("/users/me/passkeys", json=body, headers=bearer(other)).status_code == 422
        assert c.get("/users/me/passkeys", headers=bearer(other)).json() == []


def test_another_users_passkey_cannot_be_renamed_or_deleted(live: LiveServer) -> None:
    with live.client() as c:
        owner = signed_up(live, c, "owner-user")
        created = enrol(c, owner, SoftAuthenticator(origin=ISSUER)).json()
        intruder = signed_up(live, c, "intruder-user")
        path = f"/users/me/passkeys/{created['id']}"
        r = c.patch(path, json={"name": "mine"}, headers=bearer(intruder))
        assert r.status_code == 404
        assert c.delete(path, headers=bearer(intruder)).status_code == 404
        assert c.get("/users/me/passkeys", headers=bearer(owner)).json()[0]["name"] == "laptop"


# -- sign in with a passkey alone ------------------------------------------------------


def test_sign_in_with_a_passkey_alone_gives_a_working_token_pair(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "pk-login")
        assert enrol(c, token, auth).status_code == 201
        options = login_options(c)
        assert options["rpId"] == RP_ID
        assert options["allowCredentials"] == []
        assert options["userVerification"] == "required"
        r = c.post("/auth/token", data=passkey_grant(auth.get(options)))
        assert r.status_code == 200, r.text
        pair = r.json()
        assert r.headers["cache-control"] == "no-store"
        uid = user_id(c, pair["access_token"])
        assert uid == user_id(c, token)
        r = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        )
        assert r.status_code == 200, r.text
        listed = c.get("/users/me/passkeys", headers=bearer(token)).json()
        assert listed[0]["last_used_at"] is not None
    passkey_logins = events(live, uid, "passkey_login")
    assert [e["credential"] for e in passkey_logins] == [listed[0]["id"]]
    assert any(e.get("amr") == "hwk user" for e in events(live, uid, "login_ok"))


@pytest.mark.parametrize(
    ("lie", "what"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"origin": "http://login.example.test"}, "scheme"),
        ({"rp_id": "evil.example"}, "rp id"),
        ({"rp_id": "example.test"}, "parent domain"),
        ({"user_verified": False}, "no user verification"),
    ],
)
def test_sign_in_is_refused_when_the_ceremony_lies(
    live: LiveServer, lie: dict[str, Any], what: str
) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, f"lie-{what.replace(' ', '-')}")
        assert enrol(c, token, auth).status_code == 201
        r = sign_in(c, auth, **lie)
        assert r.status_code == 400, what
        assert r.json()["error"] == "invalid_grant"
        assert sign_in(c, auth).status_code == 200  # the honest ceremony still works


def test_a_replayed_assertion_is_refused(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "replay-user")
        assert enrol(c, token, auth).status_code == 201
        form = passkey_grant(auth.get(login_options(c)))
        assert c.post("/auth/token", data=form).status_code == 200
        r = c.post("/auth/token", data=form)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


def test_an_expired_challenge_is_refused(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "expired-challenge")
        assert enrol(c, token, auth).status_code == 201
        form = passkey_grant(auth.get(login_options(c)))
        live.clock.advance(live.settings.webauthn.challenge_ttl + 1)
        assert c.post("/auth/token", data=form).status_code == 400


def test_a_registration_challenge_cannot_sign_in(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "purpose-user")
        assert enrol(c, token, auth).status_code == 201
        options = c.post(
            "/users/me/passkeys/options",
            json={"current_password": PASSWORD},
            headers=bearer(token),
        ).json()
        r = c.post("/auth/token", data=passkey_grant(auth.get(options)))
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


def test_a_counter_that_does_not_increase_is_refused_and_audited_as_a_clone(
    live: LiveServer,
) -> None:
    auth = SoftAuthenticator(origin=ISSUER, counter_start=5)
    with live.client() as c:
        token = signed_up(live, c, "clone-user")
        uid = user_id(c, token)
        assert enrol(c, token, auth).status_code == 201
        assert sign_in(c, auth).status_code == 200  # counter 6
        for replayed in (6, 3, 0):
            r = sign_in(c, auth, sign_count=replayed)
            assert r.status_code == 400
            assert r.json()["error"] == "invalid_grant"
        assert sign_in(c, auth).status_code == 200  # 7: the genuine one goes on
    clones = events(live, uid, "passkey_clone_suspected")
    assert sorted(e["presented"] for e in clones) == [0, 3, 6]


def test_an_authenticator_without_a_counter_signs_in_repeatedly(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER, counter_start=0, backup_eligible=True)
    with live.client() as c:
        token = signed_up(live, c, "synced-user")
        created = enrol(c, token, auth).json()
        assert created["backup_eligible"] is True
        for _ in range(3):
            assert sign_in(c, auth).status_code == 200


def test_a_deleted_credential_is_refused(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "deleted-cred")
        created = enrol(c, token, auth).json()
        assert delete_passkey(c, token, created["id"], PASSWORD).status_code == 204
        r = sign_in(c, auth)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


def test_a_disabled_users_passkey_is_refused(live: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "disabled-pk")
        uid = user_id(c, token)
        assert enrol(c, token, auth).status_code == 201
        live.call(lambda s: s.disable_user(uid))
        r = sign_in(c, auth)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


def test_a_key_that_is_not_the_registered_one_is_refused(live: LiveServer) -> None:
    """Same credential id, another private key: the signature fails (§7.2 step 21)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    auth = SoftAuthenticator(origin=ISSUER)
    with live.client() as c:
        token = signed_up(live, c, "forged-key")
        assert enrol(c, token, auth).status_code == 201
        auth.credentials[-1].key = ec.generate_private_key(ec.SECP256R1())
        r = sign_in(c, auth)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "assertion",
    [
        "not json",
        "[]",
        "{}",
        '{"id": "x", "rawId": "x", "response": {}}',
        '{"id": "AAAA", "rawId": "AAAA", "response": {"clientDataJSON": "!!!"}}',
        '{"response": {"clientDataJSON": "e30"}}',
        "x" * 20_000,
    ],
)
def test_a_malformed_assertion_gets_a_4xx_never_a_500(live: LiveServer, assertion: str) -> None:
    with live.client() as c:
        r = c.post(
            "/auth/token",
            data={
                "grant_type": "urn:authgate:params:oauth:grant-type:webauthn",
                "assertion": assertion,
            },
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"] in ("invalid_request", "invalid_grant")
