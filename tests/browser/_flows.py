"""What a person does on the pages, as small helpers the browser tests share."""

from __future__ import annotations

import itertools
import os

from playwright.sync_api import BrowserContext, Page

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
