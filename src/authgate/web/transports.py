"""Where an access token travels: the ``Authorization`` header, a cookie, a WebSocket
subprotocol. Never the query string or a form body (RFC 6750 §2.3 and §5.3,
SECURITY.md #40): nothing here reads them.

These functions read the raw ASGI scope, so the middleware and the dependencies
share one implementation and the hot path allocates no Request object.
"""

from __future__ import annotations

import hmac
from typing import Literal, NamedTuple

from starlette.requests import cookie_parser
from starlette.types import Scope

from authgate.errors import CSRFRejected, MalformedToken, MissingToken, TokenError
from authgate.settings import CookieSettings

__all__ = [
    "SAFE_METHODS",
    "WS_BEARER_PREFIX",
    "WS_SUBPROTOCOL",
    "Credentials",
    "cookie_name",
    "extract_credentials",
    "header_token",
    "header_token_or_none",
    "parse_bearer",
    "request_cookie",
    "websocket_subprotocol_token",
]

#: RFC 9110 §9.2.1: the methods a CSRF cannot abuse.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: A browser offers ``["authgate", "authgate.bearer.<token>"]``; the server echoes "authgate".
WS_SUBPROTOCOL = "authgate"
WS_BEARER_PREFIX = "authgate.bearer."

Transport = Literal["header", "cookie", "websocket"]


class Credentials(NamedTuple):
    """A token and how it came: the CSRF rule applies only to ``cookie``."""

    token: str
    transport: Transport


def cookie_name(name: str, settings: CookieSettings) -> str:
    """The effective cookie name: ``__Host-`` requires ``Secure`` (RFC 6265bis §4.1.3.2),
    so a loopback development setup without Secure drops the prefix."""
    if settings.secure:
        return name
    return name.removeprefix("__Host-").removeprefix("__Secure-")


def parse_bearer(value: str) -> str:
    """RFC 6750 §2.1: ``Bearer b64token``; the scheme compares case-insensitively.

    Raises:
        MissingToken: another scheme (e.g. Basic): no bearer credentials at all.
        MalformedToken: ``Bearer`` without exactly one token.
    """
    token = value[7:]
    if value[:7].lower() == "bearer " and token and " " not in token and "\t" not in token:
        return token  # the common, well-formed case
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("no bearer token")
    token = rest.strip()
    if not token or " " in token or "\t" in token:
        raise MalformedToken("Authorization: Bearer needs exactly one token")
    return token


def _headers(scope: Scope, names: tuple[bytes, ...]) -> dict[bytes, list[str]]:
    found: dict[bytes, list[str]] = {}
    for key, value in scope.get("headers", ()):
        if key in names:
            found.setdefault(key, []).append(value.decode("latin-1"))
    return found


def _cookies(raw: list[str]) -> dict[str, str]:
    # Starlette's lenient parser: one malformed cookie of another app on the same host
    # must not hide ours (http.cookies.SimpleCookie gives up on the whole header).
    jar: dict[str, str] = {}
    for header in raw:
        for key, value in cookie_parser(header).items():
            jar.setdefault(key, value)
    return jar


def header_token(scope: Scope) -> str:
    """The bearer token of the one ``Authorization`` header: the header-only fast path
    (one pass over the raw headers, no dict, no tuple).

    Raises:
        MissingToken: no Authorization header, or another scheme.
        MalformedToken: more than one Authorization header, or an unusable one.
    """
    token = header_token_or_none(scope)
    if token is None:
        raise MissingToken("no credentials")
    return token


def header_token_or_none(scope: Scope) -> str | None:
    """:func:`header_token`, but ``None`` when no ``Authorization`` header was sent: a
    request without credentials (every public route behind the middleware) costs no
    exception.

    Raises:
        MissingToken: another scheme.
        MalformedToken: more than one Authorization header, or an unusable one.
    """
    value: bytes | None = None
    for key, raw in scope.get("headers", ()):
        if key == b"authorization":
            if value is not None:
                raise MalformedToken("more than one Authorization header")
            value = raw
    return None if value is None else parse_bearer(value.decode("latin-1"))


def extract_credentials(scope: Scope, cookies: CookieSettings | None) -> Credentials:
    """The request's access token, from the header first, then the access cookie.

    With the cookie transport, an unsafe method needs the CSRF header to equal the
    CSRF cookie (double submit, compared in constant time).

    Raises:
        MissingToken: no credentials at all.
        MalformedToken: an unusable Authorization header.
        CSRFRejected: a cookie-authenticated unsafe request without a matching CSRF token.
    """
    if cookies is None or not cookies.enabled:
        return Credentials(header_token(scope), "header")
    csrf_header = cookies.csrf_header.lower().encode()
    wanted = (b"authorization", b"cookie", csrf_header) if csrf_header else (b"authorization",)
    found = _headers(scope, wanted)
    auth = found.get(b"authorization")
    if auth:
        if len(auth) > 1:
            raise MalformedToken("more than one Authorization header")
        try:
            return Credentials(parse_bearer(auth[0]), "header")
        except MissingToken:
            if not csrf_header:
                raise
    if not csrf_header or cookies is None:
        raise MissingToken("no credentials")
    jar = _cookies(found.get(b"cookie", []))
    token = jar.get(cookie_name(cookies.access_name, cookies))
    if not token:
        raise MissingToken("no credentials")
    if scope.get("method", "GET") not in SAFE_METHODS:
        expected = jar.get(cookie_name(cookies.csrf_name, cookies), "")
        sent = found.get(csrf_header, [])
        if (
            not expected
            or len(sent) != 1
            or not hmac.compare_digest(sent[0].encode(), expected.encode())
        ):
            raise CSRFRejected(
                f"a cookie-authenticated {scope.get('method')} needs the "
                f"{cookies.csrf_header} header to match the CSRF cookie"
            )
    return Credentials(token, "cookie")


def request_cookie(scope: Scope, name: str) -> str | None:
    """One cookie's value from the raw scope."""
    return _cookies(_headers(scope, (b"cookie",)).get(b"cookie", [])).get(name)


def websocket_subprotocol_token(scope: Scope) -> tuple[str, str | None]:
    """The token offered as ``authgate.bearer.<token>`` in ``Sec-WebSocket-Protocol``,
    and the subprotocol to echo (the first offered one that carries no token).

    Raises:
        MissingToken: no token subprotocol offered.
        TokenError: more than one offered.
    """
    offered = [p.strip() for p in scope.get("subprotocols", ()) if p.strip()]
    tokens = [p[len(WS_BEARER_PREFIX) :] for p in offered if p.startswith(WS_BEARER_PREFIX)]
    if not tokens:
        raise MissingToken("no token subprotocol")
    if len(tokens) > 1 or not tokens[0]:
        raise TokenError("exactly one authgate.bearer.<token> subprotocol is allowed")
    echo = next((p for p in offered if not p.startswith(WS_BEARER_PREFIX)), None)
    return tokens[0], echo
