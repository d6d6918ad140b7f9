"""Swagger UI at ``/docs``: the Authorize dialog logs in with the OAuth2 password
flow against ``/auth/token``, then "Try it out" on ``GET /users/me`` returns the user.

The page and its assets come from the server itself: every request that would
leave loopback is aborted and recorded, and the test asserts there were none.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Route, expect

from ._flows import new_username
from .conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser


def block_off_loopback(context: BrowserContext, base: str) -> list[str]:
    """Abort (and record) every request that is not to the live server."""
    blocked: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return blocked


def test_swagger_authorize_then_users_me_returns_the_user(
    live_server: LiveServer, context: BrowserContext
) -> None:
    name = new_username("swagger")
    created = context.request.post(
        live_server.url + "/users", data={"username": name, "password": PASSWORD}
    )
    assert created.status == 201, created.text()
    blocked = block_off_loopback(context, live_server.url)
    page = context.new_page()
    page.goto(live_server.url + "/docs")

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_contain_text("/auth/token")
    dialog.locator("#oauth_username").fill(name)
    dialog.locator("#oauth_password").fill(PASSWORD)
    with page.expect_response(live_server.url + "/auth/token") as token:
        dialog.locator(".auth-btn-wrapper button.authorize").click()
    assert token.value.status == 200
    expect(dialog).to_contain_text("Authorized")
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.locator(".auth-btn-wrapper button", has_text="Close").click()

    operation = page.locator("#operations-users-me_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(live_server.url + "/users/me") as me:
        operation.get_by_role("button", name="Execute").click()
    assert me.value.status == 200
    assert me.value.json()["username"] == name
    result = operation.locator(".live-responses-table tbody tr.response").first
    expect(result.locator(".response-col_status")).to_have_text("200")
    expect(result.locator(".response-col_description")).to_contain_text(f'"username": "{name}"')
    assert blocked == [], f"/docs reached off the server: {blocked}"
