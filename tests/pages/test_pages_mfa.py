"""The pages' second factor over HTTP (the real app and service, SQLite file): the
account page enrols TOTP with an inline QR code and shows the recovery codes once;
sign-in asks for a code after the password; the factor is removed with the
password. CSRF and the strict CSP hold on every new page."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from authgate.clock import FrozenClock
from pages.test_pages_http import PASSWORD, csrf_of, form, make_client, sign_up

_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
_CODES = re.compile(r"<li><code>([a-z2-7-]+)</code></li>")
_MFA_TOKEN = re.compile(r'name="mfa_token" value="([^"]+)"')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(time.time())


@pytest.fixture
def client(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    with make_client(tmp_path, clock) as c:
        yield c


def enrol(client: TestClient, clock: FrozenClock) -> tuple[str, list[str]]:
    r = client.post("/account/mfa/totp", data=form(client, "/account"))
    assert r.status_code == 200, r.text
    assert '<div class="qr" id="totp-qr"><svg' in r.text
    assert "<script" not in r.text.split('id="totp-qr"')[1].split("</div>")[0]
    secret = _SECRET.search(r.text)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    r = client.post("/account/mfa/totp/confirm", data={"code": code, "csrf_token": csrf_of(r.text)})
    assert r.status_code == 200, r.text
    codes = _CODES.findall(r.text)
    assert len(codes) == 10
    # Shown once: the next visit lists how many are left, never the codes.
    again = client.get("/account")
    assert codes[0] not in again.text
    assert "10 recovery codes left" in again.text
    clock.advance(30)
    return secret.group(1), codes


def sign_in_password(client: TestClient, username: str) -> str:
    client.cookies.clear()
    r = client.post("/signin", data=form(client, "/", username=username, password=PASSWORD))
    assert r.status_code == 200, r.text
    assert 'action="/signin/mfa"' in r.text
    assert "__Host-authgate-access" not in r.headers.get("set-cookie", "")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    token = _MFA_TOKEN.search(r.text)
    assert token
    return r.text


def test_the_account_page_enrols_totp_and_sign_in_asks_for_a_code(
    client: TestClient, clock: FrozenClock
) -> None:
    sign_up(client, "ada")
    secret, codes = enrol(client, clock)
    page = sign_in_password(client, "ada")
    fields = {
        "mfa_token": _MFA_TOKEN.search(page).group(1),  # type: ignore[union-attr]
        "csrf_token": csrf_of(page),
    }
    # A wrong code: the form again, with the error.
    r = client.post("/signin/mfa", data={**fields, "code": "000000"})
    assert r.status_code == 400
    assert "That code is not right" in r.text
    # No CSRF token: refused.
    r = client.post("/signin/mfa", data={"mfa_token": fields["mfa_token"], "code": "1"})
    assert r.status_code == 403
    r = client.post("/signin/mfa", data={**fields, "code": pyotp.TOTP(secret).at(clock.now())})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/account"
    assert client.get("/account").status_code == 200
    # A recovery code works too, once.
    page = sign_in_password(client, "ada")
    fields = {
        "mfa_token": _MFA_TOKEN.search(page).group(1),  # type: ignore[union-attr]
        "csrf_token": csrf_of(page),
    }
    r = client.post("/signin/mfa", data={**fields, "code": codes[0]})
    assert r.status_code == 303, r.text


def test_the_factor_is_removed_with_the_current_password(
    client: TestClient, clock: FrozenClock
) -> None:
    sign_up(client, "ada")
    enrol(client, clock)
    r = client.post("/account/mfa/totp/remove", data=form(client, "/account", password="nope"))
    assert r.status_code == 400
    assert "not your current password" in r.text
    r = client.post("/account/mfa/totp/remove", data=form(client, "/account", password=PASSWORD))
    assert r.status_code == 303
    assert r.headers["location"] == "/account?m=mfa_removed"
    client.cookies.clear()
    r = client.post("/signin", data=form(client, "/", username="ada", password=PASSWORD))
    assert r.status_code == 303


_HINT = re.compile(r'minlength="(\d+)"[^>]*>\s*<p class="hint"[^>]*>At least (\d+) characters\.')
#: 10 characters, neither common nor guessable: enough with a second factor only.
TEN = "qv7-hemlox"


def _password_minimum(client: TestClient) -> int:
    """The new-password field's ``minlength`` and its hint, which must agree."""
    found = _HINT.search(client.get("/account").text)
    assert found, "the account page has no password hint"
    assert found.group(1) == found.group(2)
    return int(found.group(1))


def test_the_password_hint_states_the_minimum_that_applies_to_the_user(
    client: TestClient, clock: FrozenClock
) -> None:
    """NIST SP 800-63B-4 §3.1.1.2: 15 when the password is the only factor, 8 with a
    second one; the hint follows the factor in and out, as the change does."""
    sign_up(client, "hinted")
    assert _password_minimum(client) == 15
    enrol(client, clock)
    assert _password_minimum(client) == 8
    r = client.post(
        "/account/password",
        data=form(client, "/account", current_password=PASSWORD, new_password=TEN),
    )
    assert r.status_code == 303, r.text  # the hint's promise holds
    # SECURITY.md A.7 #58: the last second factor does not go while the password is
    # too short to stand alone; the page says how to go on.
    r = client.post("/account/mfa/totp/remove", data=form(client, "/account", password=TEN))
    assert r.status_code == 422
    assert "change the password first" in r.text
    assert _password_minimum(client) == 8
    r = client.post(
        "/account/password",
        data=form(client, "/account", current_password=TEN, new_password=PASSWORD),
    )
    assert r.status_code == 303, r.text
    r = client.post("/account/mfa/totp/remove", data=form(client, "/account", password=PASSWORD))
    assert r.headers["location"] == "/account?m=mfa_removed"
    assert _password_minimum(client) == 15
