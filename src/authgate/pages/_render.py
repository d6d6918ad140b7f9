"""Template rendering for the pages: one Jinja2 environment, autoescaped, plus the
small formatting helpers the templates use and the headers every page carries."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

__all__ = ["NOTICES", "PAGE_HEADERS", "Renderer", "describe_device", "format_time"]

_HERE = Path(__file__).parent

#: Fixed texts for ``?m=`` after a redirect: the query names one, it never carries text,
#: so nothing a third party puts in a link is reflected into the page.
NOTICES: dict[str, str] = {
    "welcome": "Your account is ready. You are signed in.",
    "created_signin": "Your account is ready. Sign in.",
    "check_inbox": (
        "Your account is ready. Check your inbox: open the link in the message we sent "
        "to confirm your address, then sign in."
    ),
    "signed_out": "You are signed out.",
    "signed_out_everywhere": "You are signed out on every device.",
    "session_ended": "That session is ended. The device is signed out on its next request.",
    "session_gone": "That session had already ended.",
    "password_changed": "Password changed. Your other sessions are signed out.",
    "password_changed_signin": "Password changed. Sign in with your new password.",
    "expired": "Your session ended. Sign in again.",
    "passkey_added": "Passkey added. You can sign in with it.",
    "mfa_removed": "Two-step sign-in is off. Your password alone signs you in.",
    "mfa_restart": "That sign-in took too long or was already used. Sign in again.",
    "reset_sent": "If an account matches, a link to choose a new password is on its way.",
    "verification_sent": "A new verification message is on its way. Only its link works now.",
    "already_verified": "Your email address is already verified.",
    "verification_requested": (
        "If your address still needs confirming, a new verification link is on its way. "
        "Only the newest link works."
    ),
}

#: A strict policy is possible because the pages use no inline script or style and no CDN.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx/", "httpx"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def describe_device(user_agent: str | None) -> str:
    """A short human name for a User-Agent ("Chrome on Linux"); never trusts it."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system or ""
    short = _PRINTABLE.sub("", user_agent)[:40]
    return short or "Unknown device"


def format_time(timestamp: float) -> str:
    """``2026-11-26 22:31 UTC``: one unambiguous zone for every reader."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class Renderer:
    """Renders a template into an :class:`HTMLResponse` with the page headers."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["device"] = describe_device
        self.env.filters["time"] = format_time
        self.env.filters["isotime"] = iso_time

    def page(self, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        response = HTMLResponse(html, status_code=status_code)
        response.headers.update(PAGE_HEADERS)
        return response
