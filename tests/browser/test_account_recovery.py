"""Account recovery in Chromium: "Forgot password?" on the sign-in page, the message
read from a real SMTP server (aiosmtpd, STARTTLS), the reset page posting the token
from the URL fragment, signing in with the new password; the old session is gone.
And the verification link's page confirms the address shown on the account page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from recovery._smtp import TestSmtp, link_in
from resilience._harness import AuthgateServer

from ._flows import new_username, serve_with_mail, sign_in
from .conftest import PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase after the reset 9"


@pytest.fixture(scope="module")
def mail_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AuthgateServer, TestSmtp]]:
    yield from serve_with_mail(tmp_path_factory, "recovery-browser")


def _register(server: AuthgateServer, name: str, address: str) -> None:
    r = httpx.post(
        server.url + "/users",
        json={"username": name, "password": PASSWORD, "email": address},
        timeout=30,
    )
    assert r.status_code == 201, r.text


def test_forgot_password_reset_in_the_browser_ends_the_old_session(
    mail_server: tuple[AuthgateServer, TestSmtp],
    context: BrowserContext,
    second_context: BrowserContext,
) -> None:
    server, smtp = mail_server
    base = server.url
    name = new_username("forgetful")
    address = f"{name}@example.com"
    _register(server, name, address)

    old = context.new_page()  # a session that must not survive the reset
    sign_in(old, base, name, PASSWORD)
    old.wait_for_url(base + "/account")

    page = second_context.new_page()
    page.goto(base + "/")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url(base + "/forgot")
    page.get_by_label("Email address or username").fill(address)
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_url(base + "/?m=reset_sent")
    expect(page.get_by_role("status")).to_contain_text("If an account matches")

    link = link_in(smtp.wait_for(address, subject="Reset")[0])
    assert link.startswith(base + "/reset#token=")
    page.goto(link)
    expect(page).to_have_url(base + "/reset")  # the token left the address bar
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.wait_for_url(base + "/?m=password_changed_signin")

    sign_in(page, base, name, NEW_PASSWORD)
    page.wait_for_url(base + "/account")
    expect(page.locator("#username")).to_have_text(name)

    old.goto(base + "/account")
    expect(old).to_have_url(re.compile(re.escape(base) + r"/(\?m=\w+)?$"))
    expect(old.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_used_reset_link_says_so(
    mail_server: tuple[AuthgateServer, TestSmtp], context: BrowserContext
) -> None:
    server, smtp = mail_server
    name = new_username("twice")
    address = f"{name}@example.com"
    _register(server, name, address)
    r = httpx.post(server.url + "/auth/password-reset", json={"email": address}, timeout=30)
    assert r.status_code == 202
    link = link_in(smtp.wait_for(address, subject="Reset")[0])
    page = context.new_page()
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    page.wait_for_url(server.url + "/?m=password_changed_signin")
    page.goto(link)  # the same link again
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD + " again")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("alert")).to_contain_text("already used")


def test_the_verification_page_confirms_the_address_shown_on_the_account_page(
    mail_server: tuple[AuthgateServer, TestSmtp], context: BrowserContext
) -> None:
    server, smtp = mail_server
    base = server.url
    name = new_username("verifier")
    address = f"{name}@example.com"
    _register(server, name, address)
    page = context.new_page()
    sign_in(page, base, name, PASSWORD)
    page.wait_for_url(base + "/account")
    expect(page.locator("#email")).to_contain_text(address)
    expect(page.locator("#email-state")).to_have_text("not verified")

    link = link_in(smtp.wait_for(address, subject="Confirm")[0])
    assert link.startswith(base + "/verify#token=")
    page.goto(link)
    expect(page).to_have_url(base + "/verify")
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.locator("#recovery-status")).to_have_text("Your email address is confirmed.")
    page.goto(base + "/account")
    expect(page.locator("#email-state")).to_have_text("verified")


def test_the_account_page_sends_the_verification_message_again_and_only_its_link_works(
    mail_server: tuple[AuthgateServer, TestSmtp], context: BrowserContext
) -> None:
    server, smtp = mail_server
    base = server.url
    name = new_username("resender")
    address = f"{name}@example.com"
    _register(server, name, address)
    first = link_in(smtp.wait_for(address, subject="Confirm")[0])
    page = context.new_page()
    sign_in(page, base, name, PASSWORD)
    page.wait_for_url(base + "/account")
    expect(page.locator("#email-state")).to_have_text("not verified")
    page.get_by_role("button", name="Send the verification message again").click()
    page.wait_for_url(base + "/account?m=verification_sent")
    expect(page.get_by_role("status")).to_contain_text("A new verification message is on its way")
    second = link_in(smtp.wait_for(address, 2, subject="Confirm")[1])
    assert second != first

    page.goto(first)  # the lost message's link: dead
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.locator("#recovery-status")).to_contain_text("already used")
    page.goto(base + "/account")  # away first: a fragment change alone reloads nothing
    expect(page.locator("#email-state")).to_have_text("not verified")
    page.goto(second)
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.locator("#recovery-status")).to_have_text("Your email address is confirmed.")
    page.goto(base + "/account")
    expect(page.locator("#email-state")).to_have_text("verified")
    expect(page.get_by_role("button", name="Send the verification message again")).to_have_count(0)
