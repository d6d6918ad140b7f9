"""Passkeys in Chromium with a virtual authenticator (the DevTools WebAuthn domain
through Playwright's CDP session: ctap2, internal, resident keys, user verification):
register a passkey on the account page, sign out, sign in with it (the button and
the autofill of conditional mediation).

WebAuthn needs a secure context and a domain as RP id, so this server's issuer is
``http://localhost:<port>`` (W3C Secure Contexts §3.1: localhost is trustworthy).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, CDPSession, Page, expect

from ._flows import new_username, sign_in, sign_up
from .conftest import PASSWORD, LiveServer, _free_port, _wait_until_serving, server_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def localhost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("passkeys-data")
    log = data_dir.parent / "passkeys-serve.log"
    port = _free_port()
    env = server_env(data_dir, port)
    env["AUTHGATE_ISSUER"] = f"http://localhost:{port}"
    command = [sys.executable, "-c", "from authgate.cli import main; main()", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(proc, port, log)
        yield LiveServer(f"http://localhost:{port}", port, data_dir, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    answer: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(answer["authenticatorId"])


def stored_credentials(cdp: CDPSession, authenticator_id: str) -> list[dict[str, Any]]:
    answer = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    found: list[dict[str, Any]] = answer["credentials"]
    return found


def add_passkey(page: Page, name: str) -> None:
    page.locator("#passkey-name").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_have_text("Passkey added. You can sign in with it.")


def sign_out(page: Page, base: str) -> None:
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.wait_for_url(base + "/**")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_register_a_passkey_sign_out_and_sign_in_with_it(
    localhost_server: LiveServer, context: BrowserContext
) -> None:
    base = localhost_server.url
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(page)
    name = new_username("pk")
    sign_up(page, base, name, PASSWORD)
    add_passkey(page, "Work laptop")
    rows = page.locator("li.passkey")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("input")).to_have_value("Work laptop")
    stored = stored_credentials(cdp, authenticator)
    assert len(stored) == 1
    assert stored[0]["isResidentCredential"] is True
    assert stored[0]["rpId"] == "localhost"

    # No autofill answer on the sign-in page (a user who does not pick from it), so
    # the sign-in below is the button's.
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": authenticator, "enabled": False},
    )
    sign_out(page, base)
    assert page.locator("#signin-username").get_attribute("autocomplete") == "username webauthn"
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": authenticator, "enabled": True},
    )
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url(base + "/account")
    expect(page.locator("#username")).to_have_text(name)
    # The authenticator's counter moved, and the server saw it used.
    assert stored_credentials(cdp, authenticator)[0]["signCount"] >= 2
    expect(page.locator("li.passkey").first).to_contain_text("last used")


def test_rename_and_delete_a_passkey_on_the_account_page(
    localhost_server: LiveServer, context: BrowserContext
) -> None:
    base = localhost_server.url
    page = context.new_page()
    virtual_authenticator(page)
    sign_up(page, base, new_username("pkm"), PASSWORD)
    add_passkey(page, "Old name")
    row = page.locator("li.passkey").first
    row.locator("input").fill("New name")
    row.get_by_role("button", name="Rename").click()
    page.wait_for_url(base + "/account")
    expect(page.locator("li.passkey").first.locator("input")).to_have_value("New name")
    # The only second factor: not without the password (SECURITY.md A.7 #58).
    page.get_by_role("button", name="Delete passkey New name").click()
    expect(page.locator("#passkey-status")).to_contain_text("current_password is required")
    expect(page.locator("li.passkey")).to_have_count(1)
    page.locator("#passkey-password").fill(PASSWORD)
    page.get_by_role("button", name="Delete passkey New name").click()
    expect(page.locator("li.passkey")).to_have_count(0)
    expect(page.locator("#passkeys-title")).to_contain_text("(0)")


def test_passkey_autofill_signs_in_through_conditional_mediation(
    localhost_server: LiveServer, context: BrowserContext
) -> None:
    """The sign-in page starts a conditional request at load; the virtual
    authenticator answers it as a user picking the passkey from autofill would."""
    base = localhost_server.url
    page = context.new_page()
    virtual_authenticator(page)
    name = new_username("pka")
    sign_up(page, base, name, PASSWORD)
    add_passkey(page, "Phone")
    with page.expect_request(base + "/auth/cookie/passkey") as posted:
        page.get_by_role("button", name="Sign out", exact=True).first.click()
    # Nobody clicked anything on the sign-in page: the conditional request did it.
    assert posted.value.frame.url.startswith(base + "/")
    page.wait_for_url(base + "/account")
    expect(page.locator("#username")).to_have_text(name)


def test_a_passkey_is_the_second_step_after_the_password(
    localhost_server: LiveServer, context: BrowserContext
) -> None:
    base = localhost_server.url
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(page)
    name = new_username("pk2")
    sign_up(page, base, name, PASSWORD)
    add_passkey(page, "Security key")
    presence = {"authenticatorId": authenticator, "enabled": False}
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", presence)  # no autofill answer
    sign_out(page, base)
    sign_in(page, base, name, PASSWORD)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", {**presence, "enabled": True})
    page.get_by_role("button", name="Use a passkey instead").click()
    page.wait_for_url(base + "/account")
    expect(page.locator("#username")).to_have_text(name)
    assert stored_credentials(cdp, authenticator)[0]["signCount"] >= 2


def test_a_page_opened_by_ip_address_offers_no_passkey_and_says_why(
    live_server: LiveServer, context: BrowserContext
) -> None:
    """``authgate serve``'s default address is http://127.0.0.1:8000, and an IP address
    cannot be a relying party id: the sign-in page must not greet every visitor with a
    failed autofill, and the account page says what to open instead."""
    base = live_server.url
    assert base.startswith("http://127.0.0.1:")
    page = context.new_page()
    virtual_authenticator(page)  # WebAuthn is available: only the address stands in the way
    page.goto(base + "/")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#passkey-signin")).to_be_hidden()
    expect(page.locator("#passkey-signin-status")).to_have_text("")
    expect(page.locator("#passkey-signin-status")).to_be_hidden()
    sign_up(page, base, new_username("pkip"), PASSWORD)
    expect(page.locator("#passkey-add")).to_be_hidden()
    status = page.locator("#passkey-status")
    expect(status).to_contain_text("Passkeys need the site's name, not an IP address")
    expect(status).to_contain_text(f"http://localhost:{live_server.port}")
    expect(status).not_to_have_class("error")
