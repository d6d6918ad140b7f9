"""Who is signed in on this browser, from the cookie transport, and the CSRF check.

The access and refresh tokens travel in ``__Host-`` cookies (HttpOnly, Secure,
SameSite=Lax, Path=/); the CSRF token is a readable ``__Host-`` cookie whose value
every unsafe request repeats in a form field or a header (OWASP CSRF Prevention
Cheat Sheet, "signed double-submit cookie"; the ``__Host-`` prefix, RFC 6265bis
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
    "clear_auth_cookies",
    "csrf_ok",
    "csrf_token_for",
    "resolve_session",
    "set_auth_cookies",
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
    #: Set when the page load itself had to refresh (the server-side fallback).
    refreshed: TokenPair | None = None


def _csrf_shape_ok(value: str | None) -> bool:
    return value is not None and _CSRF_MIN_LEN <= len(value) <= _CSRF_MAX_LEN


def csrf_token_for(request: Request, cookies: CookieSettings) -> tuple[str, bool]:
    """The browser's CSRF token and whether it is new (then the caller must set it)."""
    current = request.cookies.get(cookie_name(cookies.csrf_name, cookies))
    if current is not None and _csrf_shape_ok(current):
        return current, False
    return secrets.token_urlsafe(32), True


def set_csrf_cookie(response: Response, cookies: CookieSettings, token: str) -> None:
    # Readable by the page's JS (not HttpOnly): that is the point of double-submit.
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

    ``submitted`` is the form field; the header named by ``cookies.csrf_header`` is
    accepted too (the page's JS sends that one).
    """
    cookie = request.cookies.get(cookie_name(cookies.csrf_name, cookies))
    sent = submitted or request.headers.get(cookies.csrf_header)
    if cookie is None or sent is None or not (_csrf_shape_ok(cookie) and _csrf_shape_ok(sent)):
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())


def set_auth_cookies(
    response: Response,
    cookies: CookieSettings,
    pair: TokenPair,
    *,
    refresh_max_age: int,
    new_csrf: bool,
) -> None:
    """Put a fresh token pair in the ``__Host-`` cookies (HttpOnly, Secure, Lax, Path=/)."""
    response.set_cookie(
        cookie_name(cookies.access_name, cookies),
        pair.access_token,
        max_age=pair.expires_in,
        path="/",
        secure=cookies.secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        cookie_name(cookies.refresh_name, cookies),
        pair.refresh_token,
        max_age=refresh_max_age,
        path="/",
        secure=cookies.secure,
        httponly=True,
        samesite="lax",
    )
    if new_csrf:
        # A new CSRF token per sign-in: a token seen before sign-in is not reused after.
        # A refresh keeps it, so forms already on screen stay valid.
        set_csrf_cookie(response, cookies, secrets.token_urlsafe(32))


def clear_auth_cookies(response: Response, cookies: CookieSettings) -> None:
    """Forget the tokens (the ``__Host-`` attributes must match for the delete to apply)."""
    for name in (cookies.access_name, cookies.refresh_name):
        response.delete_cookie(
            cookie_name(name, cookies),
            path="/",
            secure=cookies.secure,
            httponly=True,
            samesite="lax",
        )


async def resolve_session(
    request: Request, service: AuthServiceProtocol, cookies: CookieSettings, client: ClientInfo
) -> PageSession | None:
    """The signed-in user, or None.

    A valid access cookie wins. Otherwise, when the refresh cookie is still good,
    the page load rotates it (RFC 9700 §4.14.2) so an expired access token never
    signs the user out; the caller must put ``refreshed`` into the response cookies.
    """
    access = request.cookies.get(cookie_name(cookies.access_name, cookies))
    if access:
        try:
            token = await service.verify_access_token(access)
        except TokenError:
            pass
        else:
            left = token.exp - service.codec.clock.now()
            return PageSession(token=token, expires_in=max(0, int(left)))
    refresh = request.cookies.get(cookie_name(cookies.refresh_name, cookies))
    if not refresh:
        return None
    try:
        pair = await service.refresh(refresh, scope=None, client=client)
        token = await service.verify_access_token(pair.access_token)
    except AuthError:
        return None
    return PageSession(token=token, expires_in=pair.expires_in, refreshed=pair)
