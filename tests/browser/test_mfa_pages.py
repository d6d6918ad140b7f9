"""Two-step sign-in in Chromium: the account page enrols an authenticator app (QR
code), shows the recovery codes once; signing in then asks for a code after the
password, and a recovery code works too. The real ``authgate serve`` runs on the
wall clock: codes are typed for the next 30-second step, which the server accepts
(one step of drift) and which is always later than the step the enrolment used."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import BrowserContext, expect

from ._flows import new_username, sign_in, sign_up
from .conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser


def test_sign_in_with_totp_and_with_a_recovery_code(
    live_server: LiveServer, context: BrowserContext
) -> None:
    base = live_server.url
    page = context.new_page()
    name = new_username("totp")
    sign_up(page, base, name, PASSWORD)
    expect(page.locator("#mfa-state")).to_contain_text("Off")
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#totp-qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.locator("#mfa-code").fill(pyotp.TOTP(secret).at(time.time()))
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.goto(base + "/account")
    expect(page.locator("#mfa-state")).to_contain_text("10 recovery codes left")

    page.get_by_role("button", name="Sign out", exact=True).first.click()
    sign_in(page, base, name, PASSWORD)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.locator("#mfa-code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#mfa-code-error")).to_contain_text("not right")
    page.locator("#mfa-code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(base + "/account")
    expect(page.locator("#mfa-state")).to_contain_text("On")

    page.get_by_role("button", name="Sign out", exact=True).first.click()
    sign_in(page, base, name, PASSWORD)
    page.locator("#mfa-code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(base + "/account")
    expect(page.locator("#mfa-state")).to_contain_text("9 recovery codes left")
