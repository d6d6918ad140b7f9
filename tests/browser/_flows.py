"""What a person does on the pages, as small helpers the browser tests share."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from recovery._smtp import TestSmtp
from resilience._harness import AuthgateServer

_counter = itertools.count()


def new_username(prefix: str) -> str:
    """A username no other test uses (one server serves the whole session)."""
    return f"{prefix}{os.getpid()}x{next(_counter)}"


def sign_up(page: Page, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Username").nth(1).fill(username)
    page.locator("#signup-password").fill(password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/account?m=welcome")


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.locator("#signin-username").fill(username)
    page.locator("#signin-password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def session_rows(page: Page) -> int:
    return page.locator("tr.session").count()


def cookie(context: BrowserContext, name: str) -> dict[str, object] | None:
    for found in context.cookies():
        if found.get("name") == name:
            return dict(found)
    return None


def serve_with_mail(
    tmp_path_factory: pytest.TempPathFactory, label: str, **env: str
) -> Iterator[tuple[AuthgateServer, TestSmtp]]:
    """``authgate serve`` (cookies on, ``env`` added) whose messages go to a real SMTP
    server (aiosmtpd, STARTTLS) and whose links point at its own pages."""
    smtp = TestSmtp(tmp_path_factory.mktemp("smtp")).start()
    data: Path = tmp_path_factory.mktemp(label) / "data"
    settings = {
        "AUTHGATE_COOKIES__ENABLED": "true",
        "AUTHGATE_EMAIL__SMTP_URL": smtp.url,
        "AUTHGATE_EMAIL__CA_FILE": str(smtp.cert),
        "AUTHGATE_EMAIL__POLL_INTERVAL": "0.1",
        **env,
    }
    server = AuthgateServer(data, settings)
    server.extra_env["AUTHGATE_PUBLIC_URL"] = server.url  # the links point at these pages
    server.start()
    try:
        yield server, smtp
    finally:
        server.stop()
        smtp.stop()
