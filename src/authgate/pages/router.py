"""The HTML pages: sign in / sign up at ``/`` and the account page at ``/account``.

Plain server-rendered forms (they work without JavaScript); every POST carries the
double-submit CSRF token, and every redirect after a POST is a 303 (RFC 9110
§15.4.4) so a reload never re-submits. The tokens live in the cookie transport's
``__Host-`` cookies; see :mod:`authgate.pages._session`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import FormData

from authgate.errors import (
    AuthError,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    PasswordRejected,
    RateLimited,
    StoreUnavailable,
    UsernameTaken,
)
from authgate.pages._render import NOTICES, Renderer
from authgate.pages._session import (
    CSRF_FIELD,
    PageSession,
    clear_auth_cookies,
    csrf_ok,
    csrf_token_for,
    resolve_session,
    set_auth_cookies,
    set_csrf_cookie,
)
from authgate.service.types import TokenPair
from authgate.web.gate import AuthGate
from authgate.web.transports import cookie_name

__all__ = ["REFRESH_PATH", "STATIC_PREFIX", "pages_router"]

STATIC_PREFIX = "/pages/static/"
REFRESH_PATH = "/account/refresh"
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_DIR = Path(__file__).parent / "static"


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _throttled(exc: RateLimited) -> str:
    return f"Too many attempts — try again in {exc.retry_after} s."


_UNAVAILABLE = "The service is unavailable right now. Try again in a moment."


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


class _Pages:
    def __init__(self, gate: AuthGate) -> None:
        self.gate = gate
        self.settings = gate.settings
        self.cookies = gate.settings.cookies
        self.render = Renderer()
        self.static = {
            p.name: (p.read_bytes(), _STATIC_TYPES[p.suffix])
            for p in _STATIC_DIR.iterdir()
            if p.suffix in _STATIC_TYPES
        }

    # -- shared ---------------------------------------------------------------------

    def _cookie(self, request: Request, name: str) -> str | None:
        return request.cookies.get(cookie_name(name, self.cookies))

    def _base(self, request: Request, csrf: str) -> dict[str, Any]:
        notice = NOTICES.get(request.query_params.get("m", ""))
        return {
            "csrf": csrf,
            "csrf_field": CSRF_FIELD,
            "csrf_cookie": cookie_name(self.cookies.csrf_name, self.cookies),
            "csrf_header": self.cookies.csrf_header,
            "notice": notice,
            "static": STATIC_PREFIX,
            "allow_registration": self.settings.allow_registration,
        }

    def _refused(self, request: Request) -> Response:
        """403 for a POST without a matching CSRF token: nothing was changed."""
        return self.render.page("refused.html", status_code=403, **self._base(request, ""))

    def _signed_in(self, response: Response, pair: TokenPair, *, new_csrf: bool) -> None:
        set_auth_cookies(
            response,
            self.cookies,
            pair,
            refresh_max_age=self.settings.sessions.absolute_ttl,
            new_csrf=new_csrf,
        )

    def _signin_page(
        self,
        request: Request,
        *,
        status_code: int = 200,
        mode: str = "signin",
        errors: dict[str, str] | None = None,
        form_error: str | None = None,
        username: str = "",
        headers: dict[str, str] | None = None,
    ) -> Response:
        csrf, new = csrf_token_for(request, self.cookies)
        response = self.render.page(
            "signin.html",
            status_code=status_code,
            **self._base(request, csrf),
            mode=mode,
            errors=errors or {},
            form_error=form_error,
            username=username,
            min_length=self.settings.passwords.min_length,
            max_length=self.settings.passwords.max_length,
        )
        if new:
            set_csrf_cookie(response, self.cookies, csrf)
        response.headers.update(headers or {})
        return response

    # -- sign in / sign up ----------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        if not self.cookies.enabled:
            return self.render.page("disabled.html", status_code=404, static=STATIC_PREFIX)
        session = await resolve_session(
            request, self.gate.service, self.cookies, self.gate.client_info(request)
        )
        if session is not None:
            response = _redirect("/account")
            if session.refreshed is not None:
                self._signed_in(response, session.refreshed, new_csrf=False)
            return response
        return self._signin_page(request)

    async def signin(self, request: Request) -> Response:
        if not self.cookies.enabled:
            return Response(status_code=404)
        form = await request.form()
        if not csrf_ok(request, self.cookies, _field(form, CSRF_FIELD)):
            return self._refused(request)
        username, password = _field(form, "username").strip(), _field(form, "password")
        errors: dict[str, str] = {}
        if not username:
            errors["signin-username"] = "Enter your username."
        if not password:
            errors["signin-password"] = "Enter your password."
        if errors:
            return self._signin_page(request, status_code=400, errors=errors, username=username)
        service = self.gate.service
        try:
            pair = await service.login(
                username, password, scope=None, client=self.gate.client_info(request)
            )
        except InvalidCredentials:
            errors["signin-password"] = "Wrong username or password."
            return self._signin_page(request, status_code=401, errors=errors, username=username)
        except RateLimited as exc:
            return self._signin_page(
                request,
                status_code=429,
                form_error=_throttled(exc),
                username=username,
                headers={"Retry-After": str(exc.retry_after)},
            )
        except InvalidRequest as exc:
            errors["signin-password"] = exc.message
            return self._signin_page(request, status_code=400, errors=errors, username=username)
        except StoreUnavailable:
            return self._signin_page(
                request, status_code=503, form_error=_UNAVAILABLE, username=username
            )
        response = _redirect("/account")
        self._signed_in(response, pair, new_csrf=True)
        return response

    async def signup(self, request: Request) -> Response:
        if not (self.cookies.enabled and self.settings.allow_registration):
            return Response(status_code=404)
        form = await request.form()
        if not csrf_ok(request, self.cookies, _field(form, CSRF_FIELD)):
            return self._refused(request)
        username, password = _field(form, "username").strip(), _field(form, "password")
        errors: dict[str, str] = {}
        if not username:
            errors["signup-username"] = "Choose a username."
        if not password:
            errors["signup-password"] = "Choose a password."

        if errors:
            return self._signin_page(
                request, status_code=400, errors=errors, mode="signup", username=username
            )
        service = self.gate.service
        try:
            await service.register(username, password)
            pair = await service.login(
                username, password, scope=None, client=self.gate.client_info(request)
            )
        except UsernameTaken:
            errors["signup-username"] = "That username is taken. Choose another, or sign in."
            return self._signin_page(
                request, status_code=409, errors=errors, mode="signup", username=username
            )
        except PasswordRejected as exc:
            errors["signup-password"] = f"Choose another password: {exc.reason}"
            return self._signin_page(
                request, status_code=422, errors=errors, mode="signup", username=username
            )
        except InvalidRequest as exc:
            errors["signup-username"] = exc.message
            return self._signin_page(
                request, status_code=422, errors=errors, mode="signup", username=username
            )
        except RateLimited as exc:
            return self._signin_page(
                request,
                status_code=429,
                form_error=_throttled(exc),
                mode="signup",
                username=username,
            )
        except StoreUnavailable:
            return self._signin_page(
                request, status_code=503, form_error=_UNAVAILABLE, mode="signup", username=username
            )
        response = _redirect("/account?m=welcome")
        self._signed_in(response, pair, new_csrf=True)
        return response

    # -- the account page -------------------------------------------------------------

    async def _session(self, request: Request) -> PageSession | None:
        return await resolve_session(
            request, self.gate.service, self.cookies, self.gate.client_info(request)
        )

    def _signed_out(self, request: Request, notice: str = "expired") -> Response:
        response = _redirect(f"/?m={notice}")
        clear_auth_cookies(response, self.cookies)
        return response

    async def account_page(self, request: Request) -> Response:
        return await self._account(request)

    async def _account(
        self,
        request: Request,
        *,
        errors: dict[str, str] | None = None,
        form_error: str | None = None,
        status_code: int = 200,
        session: PageSession | None = None,
    ) -> Response:
        if not self.cookies.enabled:
            return Response(status_code=404)
        session = session or await self._session(request)
        if session is None:
            had_cookies = self._cookie(request, self.cookies.refresh_name) is not None
            return self._signed_out(request, "expired") if had_cookies else _redirect("/")
        service = self.gate.service
        try:
            user = await service.get_user(session.token.sub)
            sessions = await service.list_sessions(user.id)
            # This device first, then the others newest first (the service's order).
            sessions.sort(key=lambda s: s.id != session.token.sid)
        except NotFound:
            return self._signed_out(request)
        csrf, new = csrf_token_for(request, self.cookies)
        response = self.render.page(
            "account.html",
            status_code=status_code,
            **self._base(request, csrf),
            user=user,
            sessions=sessions,
            current_sid=session.token.sid,
            expires_in=session.expires_in,
            refresh_url=REFRESH_PATH,
            errors=errors or {},
            form_error=form_error,
            min_length=self.settings.passwords.min_length,
            max_length=self.settings.passwords.max_length,
        )
        if new:
            set_csrf_cookie(response, self.cookies, csrf)
        if session.refreshed is not None:
            self._signed_in(response, session.refreshed, new_csrf=False)
        return response

    async def _authed_post(self, request: Request) -> tuple[FormData, PageSession | Response]:
        form = await request.form()
        if not self.cookies.enabled:
            return form, Response(status_code=404)
        if not csrf_ok(request, self.cookies, _field(form, CSRF_FIELD)):
            return form, self._refused(request)
        session = await self._session(request)
        if session is None:
            return form, self._signed_out(request)
        return form, session

    async def end_session(self, request: Request, session_id: str) -> Response:
        _, session = await self._authed_post(request)
        if isinstance(session, Response):
            return session
        service = self.gate.service
        try:
            await service.end_session(session.token.sub, session_id)
        except NotFound:
            return _redirect("/account?m=session_gone")
        if session_id == session.token.sid:
            return self._signed_out(request, "signed_out")
        response = _redirect("/account?m=session_ended")
        if session.refreshed is not None:
            self._signed_in(response, session.refreshed, new_csrf=False)
        return response

    async def sign_out(self, request: Request) -> Response:
        _, session = await self._authed_post(request)
        if isinstance(session, Response):
            return session
        await self.gate.service.logout(session.token)
        return self._signed_out(request, "signed_out")

    async def sign_out_everywhere(self, request: Request) -> Response:
        _, session = await self._authed_post(request)
        if isinstance(session, Response):
            return session
        await self.gate.service.logout_all(session.token.sub)
        return self._signed_out(request, "signed_out_everywhere")

    async def change_password(self, request: Request) -> Response:
        form, session = await self._authed_post(request)
        if isinstance(session, Response):
            return session
        current, new = _field(form, "current_password"), _field(form, "new_password")
        errors: dict[str, str] = {}
        if not current:
            errors["pw-current"] = "Enter your current password."
        if not new:
            errors["pw-new"] = "Choose a new password."
        service = self.gate.service
        if not errors:
            try:
                await service.change_password(
                    session.token.sub, current, new, current_session=session.token.sid
                )
            except InvalidCredentials:
                errors["pw-current"] = "That is not your current password."
            except PasswordRejected as exc:
                errors["pw-new"] = f"Choose another password: {exc.reason}"
            except InvalidRequest as exc:
                errors["pw-new"] = exc.message
            except RateLimited as exc:
                return await self._account(
                    request, form_error=_throttled(exc), status_code=429, session=session
                )
        if errors:
            return await self._account(request, errors=errors, status_code=400, session=session)
        return await self._after_password_change(request, session)

    async def _after_password_change(self, request: Request, session: PageSession) -> Response:
        """Keep this browser signed in when its session survived (it should: only the
        *other* sessions end), re-issuing the tokens if the old access token is now stale."""
        service = self.gate.service
        pair = session.refreshed
        refresh_token = (
            pair.refresh_token if pair else self._cookie(request, self.cookies.refresh_name)
        )
        if refresh_token:
            try:
                pair = await service.refresh(
                    refresh_token, scope=None, client=self.gate.client_info(request)
                )
            except AuthError:
                pair = None
        if pair is None:
            return self._signed_out(request, "password_changed_signin")
        response = _redirect("/account?m=password_changed")
        self._signed_in(response, pair, new_csrf=False)
        return response

    async def refresh(self, request: Request) -> Response:
        """The page's JS timer calls this before the access token expires (header CSRF)."""
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if not self.cookies.enabled:
            return Response(status_code=404)
        if not csrf_ok(request, self.cookies, None):
            return JSONResponse({"error": "csrf"}, status_code=403, headers=headers)
        refresh_token = self._cookie(request, self.cookies.refresh_name)
        if not refresh_token:
            return JSONResponse({"error": "invalid_grant"}, status_code=401, headers=headers)
        try:
            pair = await self.gate.service.refresh(
                refresh_token, scope=None, client=self.gate.client_info(request)
            )
        except AuthError as exc:
            response = JSONResponse({"error": exc.code}, status_code=401, headers=headers)
            clear_auth_cookies(response, self.cookies)
            return response
        response = JSONResponse({"expires_in": pair.expires_in}, headers=headers)
        self._signed_in(response, pair, new_csrf=False)
        return response

    async def static_file(self, name: str) -> Response:
        found = self.static.get(name)
        if found is None:
            return Response(status_code=404)
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})


def pages_router(gate: AuthGate) -> APIRouter:
    """The browser pages over ``gate``'s auth service and cookie settings."""
    pages = _Pages(gate)
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/", pages.signin_page, methods=["GET"])
    router.add_api_route("/signin", pages.signin, methods=["POST"])
    router.add_api_route("/signup", pages.signup, methods=["POST"])
    router.add_api_route("/signout", pages.sign_out, methods=["POST"])
    router.add_api_route("/account", pages.account_page, methods=["GET"])
    router.add_api_route("/account/sessions/{session_id}/end", pages.end_session, methods=["POST"])
    router.add_api_route("/account/signout-everywhere", pages.sign_out_everywhere, methods=["POST"])
    router.add_api_route("/account/password", pages.change_password, methods=["POST"])
    router.add_api_route(REFRESH_PATH, pages.refresh, methods=["POST"])
    router.add_api_route(STATIC_PREFIX + "{name}", pages.static_file, methods=["GET"])
    return router
