"""The sign-in page in Chromium: errors beside the fields, throttling, cookie
attributes, keyboard use and a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, expect

from ._flows import cookie, new_username, sign_in, sign_up
from .conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

ACCESS = "__Host-authgate-access"
REFRESH = "__Host-authgate-refresh"
CSRF = "__Host-authgate-csrf"


def test_sign_up_signs_in_with_host_prefixed_httponly_secure_cookies(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    name = new_username("cookie")
    sign_up(page, live_server.url, name, PASSWORD)
    expect(page.locator("#username")).to_have_text(name)
    # The refresh cookie is Strict (SECURITY.md #42): only our own pages send it.
    for token_cookie, same_site in ((ACCESS, "Lax"), (REFRESH, "Strict")):
        found = cookie(context, token_cookie)
        assert found is not None, f"{token_cookie} was not stored"
        assert found["httpOnly"] is True
        assert found["secure"] is True
        assert found["sameSite"] == same_site
        assert found["path"] == "/"
    csrf = cookie(context, CSRF)
    assert csrf is not None
    # Double submit: the page's script must be able to read it.
    assert csrf["httpOnly"] is False
    assert csrf["secure"] is True
    assert page.evaluate("document.cookie").count(str(csrf["value"])) == 1
    assert "authgate-access" not in page.evaluate("document.cookie")


def test_wrong_password_shows_error_beside_field_and_starts_no_session(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    name = new_username("wrong")
    sign_up(page, live_server.url, name, PASSWORD)
    context.clear_cookies()

    sign_in(page, live_server.url, name, PASSWORD + " but not quite")

    password = page.locator("#signin-password")
    error = page.locator("#signin-password-error")
    expect(error).to_have_text(re.compile("Wrong username or password."))
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "signin-password-error")
    expect(password).to_be_focused()
    expect(page.locator("#signin-username")).to_have_value(name)
    assert cookie(context, ACCESS) is None
    assert cookie(context, REFRESH) is None
    # And the one real session (from sign-up) is still the only one.
    sign_in(page, live_server.url, name, PASSWORD)
    page.wait_for_url(live_server.url + "/account")
    expect(page.locator("tr.session")).to_have_count(2)


def test_repeated_failures_show_the_throttle_message_and_no_session(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    name = new_username("throttled")
    sign_up(page, live_server.url, name, PASSWORD)
    context.clear_cookies()
    throttled = page.get_by_role("alert")
    for _ in range(8):
        sign_in(page, live_server.url, name, "not the password at all")
        if throttled.count():
            break
    expect(throttled).to_have_text(re.compile(r"^Too many attempts — try again in \d+ s\.$"))
    # Even the right password waits now: the back-off applies to the account.
    sign_in(page, live_server.url, name, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Too many attempts")
    assert page.url == live_server.url + "/signin"
    assert cookie(context, ACCESS) is None


def test_sign_in_form_works_from_the_keyboard_alone(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    name = new_username("keys")
    sign_up(page, live_server.url, name, PASSWORD)
    context.clear_cookies()
    page.goto(live_server.url + "/")
    # The username field has the focus on arrival; Tab moves on, Enter submits.
    expect(page.locator("#signin-username")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    expect(page.locator("#signin-password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/account")
    expect(page.locator("#username")).to_have_text(name)


def test_every_field_has_a_label_and_the_autocomplete_hint(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(live_server.url + "/")
    expected = {
        "signin-username": "username webauthn",  # passkey autofill
        "signin-password": "current-password",
        "signup-username": "username",
        "signup-password": "new-password",
    }
    for field_id, autocomplete in expected.items():
        field = page.locator(f"#{field_id}")
        expect(field).to_have_attribute("autocomplete", autocomplete)
        assert page.locator(f'label[for="{field_id}"]').count() == 1
    viewport = page.locator('meta[name="viewport"]')
    expect(viewport).to_have_attribute("content", re.compile("width=device-width"))


def test_pages_fit_a_phone_screen_without_sideways_scrolling(
    live_server: LiveServer, second_context: BrowserContext
) -> None:
    page = second_context.new_page()
    sign_up(page, live_server.url, new_username("phone"), PASSWORD)
    for path in ("/account", "/"):
        if path == "/":
            second_context.clear_cookies()
        page.goto(live_server.url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a 390px screen"


def test_host_prefixed_secure_cookies_also_work_on_http_localhost(
    live_server: LiveServer, context: BrowserContext
) -> None:
    # W3C Secure Contexts §3.1: http://localhost is potentially trustworthy too, so
    # Chromium stores Secure (and so __Host-) cookies there without TLS.
    base = f"http://localhost:{live_server.port}"
    page = context.new_page()
    sign_up(page, base, new_username("localhost"), PASSWORD)
    access = cookie(context, ACCESS)
    assert access is not None
    assert access["domain"] == "localhost"
    assert access["secure"] is True
    assert page.evaluate("window.isSecureContext") is True
    expect(page.locator("tr.session")).to_have_count(1)
