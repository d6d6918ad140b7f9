"""Who is signed in on this browser, from the cookie transport, and the CSRF check.

The tokens live in the web layer's ``__Host-`` cookies (set and cleared only by
:mod:`authgate.endpoints.routes_cookie`). The CSRF token is the readable ``__Host-`` CSRF
cookie, which every unsafe request repeats in a form field or in the header (OWASP
CSRF Prevention Cheat Sheet, double submit; the ``__Host-`` prefix, RFC 6265bis
§4.1.3.2, stops a sibling subdomain from planting its own token).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from authgate.errors import AuthError, TokenError
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import ClientInfo, TokenPair
from authgate.settings import CookieSettings
from authgate.tokens import VerifiedToken
from authgate.web.transports import cookie_name

__all__ = [
    "CSRF_FIELD",
    "PageSession",
    "csrf_ok",
    "csrf_token_for",
    "refresh_cookie",
    "resolve_session",
    "set_csrf_cookie",
]

#: The hidden form field that carries the double-submit token.
CSRF_FIELD = "csrf_token"
_CSRF_MIN_LEN = 32
_CSRF_MAX_LEN = 128


@dataclass(frozen=True, slots=True)
class PageSession:
    """The signed-in user behind a page request."""

    token: VerifiedToken
    #: Seconds until the access cookie's token expires (drives the JS refresh timer).
    expires_in: int
    #: Set when the page load itself had to refresh (the server-side fallback): the
    #: caller must put it into the response's cookies.
    refreshed: TokenPair | None = None


def _read(request: Request, cookies: CookieSettings, name: str) -> str | None:
    return request.cookies.get(cookie_name(name, cookies))


def _csrf_shape_ok(value: str | None) -> bool:
    return value is not None and _CSRF_MIN_LEN <= len(value) <= _CSRF_MAX_LEN


def csrf_token_for(request: Request, cookies: CookieSettings) -> tuple[str, bool]:
    """The browser's CSRF token, and whether it is new (then the caller sets it)."""
    current = _read(request, cookies, cookies.csrf_name)
    if current is not None and _csrf_shape_ok(current):
        return current, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, cookies: CookieSettings, token: str) -> None:
    """The pre-sign-in CSRF cookie; readable by the page's JS, which is the point."""
    response.set_cookie(
        cookie_name(cookies.csrf_name, cookies),
        token,
        path="/",
        secure=cookies.secure,
        httponly=False,
        samesite="lax",
    )


def csrf_ok(request: Request, cookies: CookieSettings, submitted: str | None) -> bool:
    """Double-submit check with a constant-time compare (hmac.compare_digest).

    ``submitted`` is the form field; without it the header named by
    ``cookies.csrf_header`` counts (the page's JS sends that one).
    """
    cookie = _read(request, cookies, cookies.csrf_name)
    sent = submitted or request.headers.get(cookies.csrf_header)
    if cookie is None or sent is None or not (_csrf_shape_ok(cookie) and _csrf_shape_ok(sent)):
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())


def refresh_cookie(request: Request, cookies: CookieSettings) -> str | None:
    return _read(request, cookies, cookies.refresh_name)


async def resolve_session(
    request: Request, service: AuthServiceProtocol, cookies: CookieSettings, client: ClientInfo
) -> PageSession | None:
    """The signed-in user, or None.

    A valid access cookie wins. Otherwise, when the refresh cookie is still good,
    the page load rotates it (RFC 9700 §4.14.2), so an access token that expired
    while the page was closed never signs the user out.
    """
    access = _read(request, cookies, cookies.access_name)
    if access:
        try:
            token = await service.verify_access_token(access)
        except TokenError:
            pass
        else:
            left = token.exp - service.codec.clock.now()
            return PageSession(token=token, expires_in=max(0, int(left)))
    refresh = _read(request, cookies, cookies.refresh_name)
    if not refresh:
        return None
    try:
        pair = await service.refresh(refresh, scope=None, client=client)
        token = await service.verify_access_token(pair.access_token)
    except AuthError:
        return None
    return PageSession(token=token, expires_in=pair.expires_in, refreshed=pair)
