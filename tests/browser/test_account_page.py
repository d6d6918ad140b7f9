"""The account page in Chromium: sessions across two browsers, ending one, changing
the password and signing out everywhere."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from ._flows import new_username, sign_in, sign_up
from .conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

NEW_PASSWORD = "another long passphrase for the test 7"


def _two_browsers(
    server: LiveServer, first: BrowserContext, second: BrowserContext, prefix: str
) -> tuple[Page, Page, str]:
    a, b = first.new_page(), second.new_page()
    name = new_username(prefix)
    sign_up(a, server.url, name, PASSWORD)
    sign_in(b, server.url, name, PASSWORD)
    b.wait_for_url(server.url + "/account")
    a.reload()
    return a, b, name


def _assert_signed_out(page: Page, server: LiveServer) -> None:
    page.goto(server.url + "/account")
    expect(page).to_have_url(re.compile(re.escape(server.url) + r"/(\?m=\w+)?$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_account_page_lists_the_one_session_of_a_new_user(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    name = new_username("one")
    sign_up(page, live_server.url, name, PASSWORD)
    expect(page.get_by_role("status")).to_have_text("Your account is ready. You are signed in.")
    expect(page.locator("#username")).to_have_text(name)
    expect(page.locator("#scopes")).to_contain_text("profile")
    rows = page.locator("tr.session")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("This device")
    expect(rows.first).to_contain_text("127.0.0.1")
    expect(rows.first).to_contain_text("Chrome")


def test_ending_the_other_session_signs_that_browser_out(
    live_server: LiveServer, context: BrowserContext, second_context: BrowserContext
) -> None:
    a, b, _ = _two_browsers(live_server, context, second_context, "two")
    rows = a.locator("tr.session")
    expect(rows).to_have_count(2)
    other = rows.filter(has_not_text="This device")
    expect(other).to_contain_text("Safari on iPhone")

    other.get_by_role("button", name="End session").click()

    expect(a.get_by_role("status")).to_contain_text("That session is ended")
    expect(a.locator("tr.session")).to_have_count(1)
    expect(a.locator("tr.session")).to_contain_text("This device")
    _assert_signed_out(b, live_server)
    # The first browser is untouched.
    a.goto(live_server.url + "/account")
    expect(a.locator("tr.session")).to_have_count(1)


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(
    live_server: LiveServer, context: BrowserContext, second_context: BrowserContext
) -> None:
    a, b, name = _two_browsers(live_server, context, second_context, "pw")
    a.locator("#pw-current").fill(PASSWORD)
    a.locator("#pw-new").fill(NEW_PASSWORD)
    a.get_by_role("button", name="Change password").click()

    expect(a.get_by_role("status")).to_have_text(
        "Password changed. Your other sessions are signed out."
    )
    expect(a.locator("tr.session")).to_have_count(1)
    _assert_signed_out(b, live_server)
    sign_in(b, live_server.url, name, PASSWORD)
    expect(b.locator("#signin-password-error")).to_have_text("Wrong username or password.")
    sign_in(b, live_server.url, name, NEW_PASSWORD)
    b.wait_for_url(live_server.url + "/account")


def test_wrong_current_password_is_reported_beside_the_field(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_up(page, live_server.url, new_username("pwbad"), PASSWORD)
    page.locator("#pw-current").fill("not my password at all")
    page.locator("#pw-new").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#pw-current-error")).to_have_text("That is not your current password.")
    expect(page.locator("#pw-current")).to_have_attribute("aria-describedby", "pw-current-error")
    expect(page.locator("#username")).to_be_visible()


def test_sign_out_everywhere_ends_every_session(
    live_server: LiveServer, context: BrowserContext, second_context: BrowserContext
) -> None:
    a, b, _ = _two_browsers(live_server, context, second_context, "all")
    a.get_by_role("button", name="Sign out everywhere").click()
    expect(a.get_by_role("status")).to_have_text("You are signed out on every device.")
    _assert_signed_out(a, live_server)
    _assert_signed_out(b, live_server)


def test_sign_out_ends_only_this_session(
    live_server: LiveServer, context: BrowserContext, second_context: BrowserContext
) -> None:
    a, b, _ = _two_browsers(live_server, context, second_context, "out")
    a.get_by_role("button", name="Sign out", exact=True).first.click()
    expect(a.get_by_role("status")).to_have_text("You are signed out.")
    _assert_signed_out(a, live_server)
    b.goto(live_server.url + "/account")
    expect(b.locator("tr.session")).to_have_count(1)
