"""Issue 17: using a recovery code is notified by email when the account has a verified
address (``service/recovery_notice.py``), through the outbox and a real SMTP server;
never to an address its owner has not proved."""

from __future__ import annotations

import time

import httpx
import pyotp

from authgate.service.protocol import AuthServiceProtocol
from recovery._smtp import TestSmtp, text_of, token_in
from recovery.conftest import bearer, register
from server.conftest import PASSWORD, LiveServer

MFA_GRANT = "urn:authgate:params:oauth:grant-type:mfa"


def enrol_totp(c: httpx.Client, live: LiveServer, username: str) -> list[str]:
    """TOTP confirmed for ``username``: its recovery codes."""
    access = live.login(c, username)["access_token"]
    r = c.post("/users/me/mfa/totp", headers=bearer(access))
    assert r.status_code == 201, r.text
    code = pyotp.TOTP(r.json()["secret"]).at(live.clock.now())
    r = c.post("/users/me/mfa/totp/confirm", headers=bearer(access), json={"code": code})
    assert r.status_code == 200, r.text
    codes: list[str] = r.json()["recovery_codes"]
    return codes


def sign_in_with_a_recovery_code(c: httpx.Client, username: str, code: str) -> None:
    first = c.post(
        "/auth/token", data={"grant_type": "password", "username": username, "password": PASSWORD}
    )
    assert first.status_code == 403, first.text
    r = c.post(
        "/auth/token",
        data={
            "grant_type": MFA_GRANT,
            "mfa_token": first.json()["mfa_token"],
            "recovery_code": code,
        },
    )
    assert r.status_code == 200, r.text


def test_a_used_recovery_code_is_notified_to_a_verified_address_only(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "rhea", "rhea@example.org")
        token = token_in(smtp.wait_for("rhea@example.org", subject="Confirm")[0])
        assert c.post("/auth/email/verify", json={"token": token}).status_code == 204
        register(c, "ursa", "ursa@example.org")  # never verifies her address
        verified, unverified = enrol_totp(c, live, "rhea"), enrol_totp(c, live, "ursa")

        sign_in_with_a_recovery_code(c, "ursa", unverified[0])
        sign_in_with_a_recovery_code(c, "rhea", verified[0])
        notice = smtp.wait_for("rhea@example.org", subject="recovery code")
        assert len(notice) == 1
        assert "9 left" in text_of(notice[0])

        async def unsent(service: AuthServiceProtocol) -> int:
            async with service.db.read() as tx:  # type: ignore[attr-defined]
                return int(await tx.outbox.pending())

        # Every queued message has reached the SMTP server once none is unsent: had
        # ursa's use queued one (it was used first), it would be there now.
        deadline = time.monotonic() + 30
        while live.call(unsent) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.call(unsent) == 0
    assert smtp.subjects("ursa@example.org", "recovery code") == []
    assert len(smtp.subjects("rhea@example.org", "recovery code")) == 1
