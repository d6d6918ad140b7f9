"""The browser cookie transport: login (and its second step), refresh and logout that
keep the tokens in ``__Host-`` cookies, so page JavaScript never holds them
(SECURITY.md #42).

- access cookie: HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age = token lifetime;
- refresh cookie: HttpOnly, Secure, SameSite=Strict, Path=/ (only our own JS posts it);
- CSRF cookie: readable by JS, repeated in the ``settings.cookies.csrf_header`` header on
  every unsafe cookie-authenticated request (double submit, constant-time compare).

Every endpoint that answers with these cookies is declared by :func:`cookie_login_route`:
login, its second step (``/cookie/mfa``, the ``mfa`` grant's completion), refresh and
the passkey sign-in (``/cookie/passkey``, routes_passkeys.py). It refuses login CSRF
first (:func:`refuse_cross_site`: ``Sec-Fetch-Site``, and ``Origin`` against ``Host``
for browsers that send no ``Sec-Fetch-Site``; OWASP CSRF CS), before a body is read or
a credential, token or challenge is touched, and answers with :func:`cookie_answer`.
Exists only when ``settings.cookies.enabled``.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from authgate.endpoints.forms import read_strings
from authgate.endpoints.routes_oauth import oauth_endpoint
from authgate.errors import CSRFRejected, InvalidGrant, TokenError
from authgate.service.second_step import typed_code
from authgate.service.types import TokenPair
from authgate.settings import CookieSettings
from authgate.web.errors import responses
from authgate.web.transports import cookie_name, request_cookie

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = [
    "CookieLoginResponse",
    "cookie_answer",
    "cookie_login_route",
    "cookie_routes",
    "refuse_cross_site",
    "set_token_cookies",
]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class CookieLoginResponse(BaseModel):
    expires_in: int
    scope: str
    #: Also in the CSRF cookie; repeat it in the CSRF header on unsafe requests.
    csrf_token: str


def set_token_cookies(
    response: Response,
    cookies: CookieSettings,
    pair: TokenPair,
    *,
    refresh_max_age: int,
    csrf: str | None = None,
) -> str:
    """Set the three cookies for ``pair``; returns the CSRF token (new unless given)."""
    csrf = csrf or secrets.token_urlsafe(32)
    common: dict[str, Any] = {"path": "/", "secure": cookies.secure}
    response.set_cookie(
        cookie_name(cookies.access_name, cookies),
        pair.access_token,
        max_age=pair.expires_in,
        httponly=True,
        samesite="lax",
        **common,
    )
    response.set_cookie(
        cookie_name(cookies.refresh_name, cookies),
        pair.refresh_token,
        max_age=refresh_max_age,
        httponly=True,
        samesite="strict",
        **common,
    )
    response.set_cookie(
        cookie_name(cookies.csrf_name, cookies),
        csrf,
        max_age=refresh_max_age,
        httponly=False,
        samesite="lax",
        **common,
    )
    return csrf


def clear_token_cookies(response: Response, cookies: CookieSettings) -> None:
    for name, httponly in (
        (cookies.access_name, True),
        (cookies.refresh_name, True),
        (cookies.csrf_name, False),
    ):
        response.delete_cookie(
            cookie_name(name, cookies), path="/", secure=cookies.secure, httponly=httponly
        )


def refuse_cross_site(request: Request) -> None:
    """Refuse a cross-site login or refresh (login CSRF, OWASP CSRF CS): a
    ``Sec-Fetch-Site`` other than same-origin / none, or an ``Origin`` whose host is
    not ``Host`` (browsers without Fetch Metadata still send ``Origin`` on a POST).

    Raises:
        CSRFRejected: 403.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise CSRFRejected("cross-site request refused")
    origin = request.headers.get("origin")
    if origin is None:
        return
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # e.g. "http://[::1": no browser sends it; refused, never a 500
        raise CSRFRejected("cross-origin request refused") from None
    if netloc != request.headers.get("host"):
        raise CSRFRejected("cross-origin request refused")


def cookie_answer(gate: EndpointContext, pair: TokenPair) -> JSONResponse:
    """The body ``{expires_in, scope, csrf_token}`` (no tokens in it) with the three
    cookies set for ``pair`` (SECURITY.md #42)."""
    csrf = secrets.token_urlsafe(32)
    body = CookieLoginResponse(
        expires_in=pair.expires_in, scope=" ".join(sorted(pair.scope)), csrf_token=csrf
    )
    response = JSONResponse(body.model_dump(), headers=_NO_STORE)
    set_token_cookies(
        response,
        gate.settings.cookies,
        pair,
        refresh_max_age=gate.settings.sessions.absolute_ttl,
        csrf=csrf,
    )
    return response


_Handler = Callable[[Request], Awaitable[TokenPair]]


def cookie_login_route(
    router: APIRouter,
    gate: EndpointContext,
    path: str,
    *,
    summary: str,
    codes: tuple[int, ...],
    openapi_extra: dict[str, Any] | None = None,
) -> Callable[[_Handler], _Handler]:
    """Declare ``POST path`` whose ``handler(request)`` signs the browser in: login
    CSRF refused first (:func:`refuse_cross_site`, 403), then the handler's pair
    answered with the cookies (:func:`cookie_answer`); RFC 6749 §5.2 error bodies."""

    def register(handler: _Handler) -> _Handler:
        async def endpoint(request: Request) -> Response:
            refuse_cross_site(request)
            return cookie_answer(gate, await handler(request))

        router.add_api_route(
            path,
            oauth_endpoint(endpoint),
            methods=["POST"],
            name=handler.__name__,
            response_model=CookieLoginResponse,
            responses=responses(*codes),
            openapi_extra=openapi_extra,
            summary=summary,
        )
        return handler

    return register


def _csrf(request: Request, cookies: CookieSettings) -> None:
    expected = request_cookie(request.scope, cookie_name(cookies.csrf_name, cookies)) or ""
    sent = request.headers.get(cookies.csrf_header, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CSRFRejected(f"the {cookies.csrf_header} header must match the CSRF cookie")


def _body(fields: dict[str, dict[str, str]], required: list[str]) -> dict[str, Any]:
    """The OpenAPI request body of a JSON-or-form endpoint."""
    schema = {"type": "object", "properties": fields, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {
                ctype: {"schema": schema}
                for ctype in ("application/json", "application/x-www-form-urlencoded")
            },
        }
    }


_LOGIN_BODY = _body(
    {
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "scope": {"type": "string"},
    },
    ["username", "password"],
)
_MFA_BODY = _body(
    {
        "mfa_token": {"type": "string", "description": "from the 403 mfa_required answer"},
        "code": {"type": "string", "description": "a TOTP code, or a recovery code"},
    },
    ["mfa_token", "code"],
)
#: Like the ``mfa`` grant's ``mfa_token`` (grant_mfa.py); a code is far shorter.
_MAX_MFA_FIELD = 256


def cookie_routes(gate: EndpointContext) -> APIRouter | None:
    """``/cookie/login``, ``/cookie/mfa``, ``/cookie/refresh`` and ``/cookie/logout``;
    ``None`` when the cookie transport is off."""
    if not gate.settings.cookies.enabled:
        return None
    router = APIRouter(
        prefix=f"{gate.prefix}/cookie", tags=["cookie transport"], route_class=gate.route_class
    )
    _add_login(router, gate)
    _add_mfa(router, gate)
    _add_refresh(router, gate)
    _add_logout(router, gate)
    return router


def _add_login(router: APIRouter, gate: EndpointContext) -> None:
    @cookie_login_route(
        router,
        gate,
        "/login",
        summary="Password login that sets the token cookies",
        codes=(400, 403, 429, 503),
        openapi_extra=_LOGIN_BODY,
    )
    async def login(request: Request) -> TokenPair:
        (username, password), (scope,) = await read_strings(
            request, ("username", "password"), ("scope",)
        )
        return await gate.service.login(
            username, password, scope=scope, client=gate.client_info(request)
        )


def _add_mfa(router: APIRouter, gate: EndpointContext) -> None:
    @cookie_login_route(
        router,
        gate,
        "/mfa",
        summary="Complete a login's second step (TOTP or recovery code), setting the cookies",
        codes=(400, 403, 429, 503),
        openapi_extra=_MFA_BODY,
    )
    async def mfa(request: Request) -> TokenPair:
        # The mfa grant's completion (service/mfa_login.py: single-use mfa_token,
        # throttle before the check, SECURITY.md A.7 #47, #58), answered with cookies;
        # login CSRF was refused first, before the token or the throttle is touched.
        (mfa_token, code), _ = await read_strings(
            request, ("mfa_token", "code"), max_length=_MAX_MFA_FIELD
        )
        method, proof = typed_code(code)
        return await gate.service.complete_mfa(
            mfa_token, method, proof, client=gate.client_info(request)
        )


def _add_refresh(router: APIRouter, gate: EndpointContext) -> None:
    cookies = gate.settings.cookies

    @cookie_login_route(
        router,
        gate,
        "/refresh",
        summary="Rotate the refresh cookie (needs the CSRF header)",
        codes=(400, 403, 503),
    )
    async def refresh(request: Request) -> TokenPair:
        _csrf(request, cookies)
        token = request_cookie(request.scope, cookie_name(cookies.refresh_name, cookies))
        if not token:
            raise InvalidGrant("no refresh cookie")
        return await gate.service.refresh(token, scope=None, client=gate.client_info(request))


def _add_logout(router: APIRouter, gate: EndpointContext) -> None:
    cookies = gate.settings.cookies

    @router.post(
        "/logout",
        status_code=204,
        responses=responses(403, 503),
        summary="End the cookie session and clear the cookies (needs the CSRF header)",
    )
    async def logout(request: Request) -> Response:
        _csrf(request, cookies)
        access = request_cookie(request.scope, cookie_name(cookies.access_name, cookies))
        refresh_token = request_cookie(request.scope, cookie_name(cookies.refresh_name, cookies))
        if access:
            # An expired access cookie still lets the user sign out.
            with contextlib.suppress(TokenError):
                await gate.service.logout(await gate.service.verify_access_token(access))
        if refresh_token:
            await gate.service.revoke(refresh_token, "refresh_token")
        response = Response(status_code=204, headers=_NO_STORE)
        clear_token_cookies(response, cookies)
        return response
