"""Cross-site forms are refused (double-submit CSRF token), and the access token is
renewed both by the page's timer and, as a fallback, on page load."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from ._flows import cookie, new_username, sign_up
from .conftest import PASSWORD, AttackerFactory, LiveServer

pytestmark = pytest.mark.browser

ACCESS = "__Host-authgate-access"
REFRESH = "__Host-authgate-refresh"


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("/account/signout-everywhere", {}),
        ("/account/signout-everywhere", {"csrf_token": "x" * 43}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "pwned pwned 123"}),
        ("/signout", {}),
    ],
    ids=["sign-out-everywhere", "forged-token", "change-password", "sign-out"],
)
def test_cross_origin_form_without_the_csrf_token_is_refused(
    live_server: LiveServer,
    context: BrowserContext,
    attacker_site: AttackerFactory,
    action: str,
    fields: dict[str, str],
) -> None:
    page = context.new_page()
    sign_up(page, live_server.url, new_username("csrf"), PASSWORD)
    before = cookie(context, REFRESH)
    evil = attacker_site(live_server.url + action, fields)

    with page.expect_response(live_server.url + action) as posted:
        page.goto(evil.url)
    assert posted.value.status == 403
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()

    # No state changed: same cookies, still signed in, one session, same password.
    assert cookie(context, REFRESH) == before
    page.goto(live_server.url + "/account")
    expect(page.locator("tr.session")).to_have_count(1)
    page.locator("#pw-current").fill(PASSWORD)
    page.locator("#pw-new").fill("the real owner changes it 9")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")


def test_page_load_refreshes_when_the_access_cookie_is_gone(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_up(page, live_server.url, new_username("fallback"), PASSWORD)
    old_refresh = cookie(context, REFRESH)
    # What the browser does once the access cookie's Max-Age has passed.
    context.clear_cookies(name=ACCESS)

    response = page.goto(live_server.url + "/account")

    assert response is not None
    assert response.status == 200
    expect(page.locator("tr.session")).to_have_count(1)
    assert cookie(context, ACCESS) is not None
    new_refresh = cookie(context, REFRESH)
    assert new_refresh is not None
    assert old_refresh is not None
    assert new_refresh["value"] != old_refresh["value"], "the refresh token must rotate"


def test_page_timer_refreshes_the_access_token_before_it_expires(
    live_server: LiveServer, context: BrowserContext
) -> None:
    page = context.new_page()
    page.clock.install()
    sign_up(page, live_server.url, new_username("timer"), PASSWORD)
    old_access = cookie(context, ACCESS)
    assert old_access is not None
    expires_in = int(page.locator("body").get_attribute("data-expires-in") or "0")
    assert expires_in > 0

    with page.expect_response(
        lambda r: r.url == live_server.url + "/auth/cookie/refresh"
    ) as refreshed:
        page.clock.run_for(expires_in * 1000)
    assert refreshed.value.status == 200

    new_access = cookie(context, ACCESS)
    assert new_access is not None
    assert new_access["value"] != old_access["value"]
    # The user noticed nothing: no navigation, the page is still there.
    assert page.url == live_server.url + "/account?m=welcome"
    expect(page.locator("#username")).to_be_visible()
    # Still signed in, in the same session.
    page.goto(live_server.url + "/account")
    expect(page.locator("tr.session")).to_have_count(1)
