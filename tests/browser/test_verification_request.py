"""Locked out by an unverified address, in Chromium (issue 16): with
``require_verified_email``, the first message's link goes unused; the sign-in page
refuses the right password and offers "Send a new verification link"; the new
message is read from a real SMTP server (aiosmtpd, STARTTLS); only its link works,
and then the user signs in. No administrator involved."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from recovery._smtp import TestSmtp, link_in
from resilience._harness import AuthgateServer

from ._flows import new_username, serve_with_mail, sign_in
from .conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def strict_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AuthgateServer, TestSmtp]]:
    yield from serve_with_mail(
        tmp_path_factory, "verify-request-browser", AUTHGATE_REQUIRE_VERIFIED_EMAIL="true"
    )


def test_a_user_locked_out_by_an_unverified_address_gets_a_new_link_and_signs_in(
    strict_server: tuple[AuthgateServer, TestSmtp], context: BrowserContext
) -> None:
    server, smtp = strict_server
    base = server.url
    name = new_username("locked")
    address = f"{name}@example.com"
    r = httpx.post(
        base + "/users",
        json={"username": name, "password": PASSWORD, "email": address},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    lost = link_in(smtp.wait_for(address, subject="Confirm")[0])  # never opened

    page = context.new_page()
    sign_in(page, base, name, PASSWORD)
    expect(page.locator("#signin-password-error")).to_contain_text("Confirm your email address")
    button = page.get_by_role("button", name="Send a new verification link")
    expect(button).to_be_visible()
    button.click()
    page.wait_for_url(base + "/?m=verification_requested")
    expect(page.get_by_role("status")).to_contain_text("a new verification link is on its way")
    expect(page.get_by_role("button", name="Send a new verification link")).to_have_count(0)

    fresh = link_in(smtp.wait_for(address, 2, subject="Confirm")[1])
    assert fresh != lost
    assert fresh.startswith(base + "/verify#token=")
    page.goto(lost)  # the first message's link died with the new request
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.locator("#recovery-status")).to_contain_text("already used")
    page.goto(base + "/")  # away first: a fragment change alone reloads nothing
    page.goto(fresh)
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.locator("#recovery-status")).to_have_text("Your email address is confirmed.")

    sign_in(page, base, name, PASSWORD)
    page.wait_for_url(base + "/account")
    expect(page.locator("#email-state")).to_have_text("verified")
    assert len(smtp.to(address)) == 2


def test_sign_up_with_an_address_confirm_it_from_the_message_and_sign_in(
    strict_server: tuple[AuthgateServer, TestSmtp], context: BrowserContext
) -> None:
    """The sign-up form under ``require_verified_email`` (issue 16): the address is
    required, the page says to check the inbox instead of signing in, and the link in
    the message read from the SMTP server confirms it; then the password signs in."""
    server, smtp = strict_server
    base = server.url
    name = new_username("newcomer")
    address = f"{name}@example.com"

    page = context.new_page()
    page.goto(base + "/")
    email = page.locator("#signup-email")
    expect(email).to_have_attribute("type", "email")
    expect(email).to_have_attribute("autocomplete", "email")
    page.locator("#signup-username").fill(name)
    page.locator("#signup-password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    assert page.url == base + "/"  # the browser holds the form: the address is required
    assert email.evaluate("e => e.validity.valueMissing") is True
    email.fill(address)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/?m=check_inbox")
    expect(page.get_by_role("status")).to_contain_text("Check your inbox")

    link = link_in(smtp.wait_for(address, subject="Confirm")[0])
    assert link.startswith(base + "/verify#token=")
    page.goto(link)
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.locator("#recovery-status")).to_have_text("Your email address is confirmed.")

    sign_in(page, base, name, PASSWORD)
    page.wait_for_url(base + "/account")
    expect(page.locator("#email-state")).to_have_text("verified")
    assert len(smtp.to(address)) == 1
