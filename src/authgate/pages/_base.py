"""What every page handler shares: the gate, rendering, the CSRF token, the cookies."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from authgate.endpoints.forms import read_form
from authgate.endpoints.gate import AuthGate
from authgate.endpoints.routes_cookie import clear_token_cookies, set_token_cookies
from authgate.errors import InvalidRequest, RateLimited
from authgate.pages._render import NOTICES, Renderer
from authgate.pages._session import (
    CSRF_FIELD,
    PageSession,
    csrf_ok,
    csrf_token_for,
    resolve_session,
    set_csrf_cookie,
)
from authgate.service.types import TokenPair
from authgate.web.transports import cookie_name

__all__ = ["STATIC_PREFIX", "UNAVAILABLE", "Fields", "PageBase", "redirect", "throttled"]

STATIC_PREFIX = "/pages/static/"
UNAVAILABLE = "The service is unavailable right now. Try again in a moment."
#: Every field any page form has; anything else in a body is ignored.
_FIELDS = (
    CSRF_FIELD,
    "username",
    "password",
    "current_password",
    "new_password",
    "mfa_token",
    "code",
    "email",
)
_MAX_FIELD = 4096

Fields = dict[str, str]


def throttled(exc: RateLimited) -> str:
    return f"Too many attempts — try again in {exc.retry_after} s."


def redirect(url: str) -> RedirectResponse:
    """RFC 9110 §15.4.4: 303 after a POST, so a reload never re-submits the form."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


class PageBase:
    def __init__(self, gate: AuthGate) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.cookies = gate.settings.cookies
        self.render = Renderer()
        #: The web layer's cookie refresh endpoint, called by the page's JS timer.
        self.refresh_url = f"{gate.prefix}/cookie/refresh"

    async def session(self, request: Request) -> PageSession | None:
        return await resolve_session(
            request, self.gate.service, self.cookies, self.gate.client_info(request)
        )

    def signed_in(self, response: Response, pair: TokenPair) -> str:
        """Put ``pair`` into the cookies (the web layer's helper); returns the new CSRF token."""
        return set_token_cookies(
            response, self.cookies, pair, refresh_max_age=self.settings.sessions.absolute_ttl
        )

    def signed_out(self, notice: str = "expired") -> Response:
        response = redirect(f"/?m={notice}")
        clear_token_cookies(response, self.cookies)
        return response

    def context(self, request: Request, csrf: str) -> dict[str, Any]:
        return {
            "csrf": csrf,
            "csrf_field": CSRF_FIELD,
            "csrf_cookie": cookie_name(self.cookies.csrf_name, self.cookies),
            "csrf_header": self.cookies.csrf_header,
            # ?m= names one of the fixed notices; nothing from the URL is reflected.
            "notice": NOTICES.get(request.query_params.get("m", "")),
            "static": STATIC_PREFIX,
            "allow_registration": self.settings.allow_registration,
            # Sign-up and password change: the single-factor minimum (the larger one).
            "min_length": max(
                self.settings.passwords.min_length,
                self.settings.passwords.min_length_single_factor,
            ),
            "max_length": self.settings.passwords.max_length,
            # The JSON endpoints the passkey script calls (static/passkeys.js).
            "passkey_options_url": f"{self.gate.prefix}/passkey/options",
            "passkey_login_url": f"{self.gate.prefix}/cookie/passkey",
            "passkeys_url": f"{self.gate.users_prefix}/me/passkeys",
        }

    def page(
        self,
        request: Request,
        template: str,
        *,
        status_code: int = 200,
        refreshed: TokenPair | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Render ``template`` with the CSRF token the browser will hold afterwards:
        a refresh during this request issues a new one, which the forms must carry."""
        cookie_headers: list[tuple[bytes, bytes]] = []
        if refreshed is not None:
            scratch = Response()
            csrf = self.signed_in(scratch, refreshed)
            cookie_headers = [h for h in scratch.raw_headers if h[0] == b"set-cookie"]
            new = False
        else:
            csrf, new = csrf_token_for(request, self.cookies)
        # A page may override a shared value (the account page: its user's minimum).
        response = self.render.page(
            template, status_code=status_code, **{**self.context(request, csrf), **context}
        )
        response.raw_headers.extend(cookie_headers)
        if new:
            set_csrf_cookie(response, self.cookies, csrf)
        return response

    def problem(self, request: Request, status_code: int, title: str, message: str) -> Response:
        return self.render.page(
            "problem.html",
            status_code=status_code,
            title=title,
            message=message,
            **self.context(request, ""),
        )

    async def posted(self, request: Request) -> Fields | Response:
        """The fields of a form POST that passed the CSRF check, or the answer to give.

        The body is read by the web layer's bounded parser (16 KiB, no repeated
        fields), then the double-submit token is compared in constant time.
        """
        if not self.cookies.enabled:
            return Response(status_code=404)
        try:
            form = await read_form(request)
            fields = {name: form.get(name, max_length=_MAX_FIELD) or "" for name in _FIELDS}
        except InvalidRequest:
            return self.problem(
                request,
                400,
                "Bad request",
                "This form could not be read: it is too large or malformed.",
            )
        if not csrf_ok(request, self.cookies, fields[CSRF_FIELD]):
            return self.problem(
                request,
                403,
                "Request refused",
                "This form was sent without this site's security token: it may have come "
                "from another site, or the page was open for too long.",
            )
        return fields
