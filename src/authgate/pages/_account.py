"""``/account``: the signed-in user, their sessions, and the actions on them.

The password hint states the minimum that applies to this user (NIST SP 800-63B-4
§3.1.1.2: lower with a confirmed second factor), as the password change judges it.
An unverified address gets a button that sends the verification message again
(the service behind ``POST /users/me/email/verify``).
"""

from __future__ import annotations

from fastapi import Request, Response

from authgate.errors import (
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    NothingToVerify,
    PasswordRejected,
    RateLimited,
    TokenError,
)
from authgate.pages._base import Fields, PageBase, redirect, throttled
from authgate.pages._session import PageSession, refresh_cookie

__all__ = ["AccountPages"]

_MAX_SESSION_ID = 128


class AccountPages(PageBase):
    async def account_page(self, request: Request) -> Response:
        if not self.cookies.enabled:
            return Response(status_code=404)
        return await self.render_account(request, await self.session(request))

    async def render_account(
        self,
        request: Request,
        session: PageSession | None,
        *,
        errors: dict[str, str] | None = None,
        form_error: str | None = None,
        status_code: int = 200,
        **extra: object,
    ) -> Response:
        if session is None:
            if refresh_cookie(request, self.cookies):
                return self.signed_out("expired")  # it was there, and it is no good
            return redirect("/")
        service = self.gate.service
        try:
            user = await service.get_user(session.token.sub)
            sessions = await service.list_sessions(user.id)
            passkeys = await service.list_passkeys(user.id)
            mfa = await service.mfa_status(user.id)
            min_length = await service.password_min_length(user.id)
        except NotFound:
            return self.signed_out()
        # This device first, then the others newest first (the service's order).
        sessions.sort(key=lambda s: s.id != session.token.sid)
        return self.page(
            request,
            "account.html",
            status_code=status_code,
            refreshed=session.refreshed,
            user=user,
            sessions=sessions,
            passkeys=passkeys,
            current_sid=session.token.sid,
            expires_in=session.expires_in,
            refresh_url=self.refresh_url,
            errors=errors or {},
            form_error=form_error,
            mfa=mfa,
            min_length=min_length,
            **{
                "recovery_codes": None,
                "enrolment": None,
                "qr": None,
                "email_error": None,
                **extra,
            },
        )

    async def _authorized(self, request: Request) -> tuple[Fields, PageSession | Response]:
        """The form of a POST that passed the CSRF check, and who sent it."""
        fields = await self.posted(request)
        if isinstance(fields, Response):
            return {}, fields
        session = await self.session(request)
        if session is None:
            return fields, self.signed_out()
        return fields, session

    def _back(self, notice: str, session: PageSession) -> Response:
        response = redirect(f"/account?m={notice}")
        if session.refreshed is not None:
            self.signed_in(response, session.refreshed)
        return response

    async def end_session(self, request: Request, session_id: str) -> Response:
        _, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        try:
            if len(session_id) > _MAX_SESSION_ID:
                raise NotFound("no such session")
            await self.gate.service.end_session(session.token.sub, session_id)
        except NotFound:
            return self._back("session_gone", session)
        if session_id == session.token.sid:
            return self.signed_out("signed_out")
        return self._back("session_ended", session)

    async def sign_out(self, request: Request) -> Response:
        _, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        await self.gate.service.logout(session.token)
        return self.signed_out("signed_out")

    async def sign_out_everywhere(self, request: Request) -> Response:
        _, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        await self.gate.service.logout_all(session.token.sub, client=self.gate.client_info(request))
        return self.signed_out("signed_out_everywhere")

    async def resend_verification(self, request: Request) -> Response:
        _, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        try:
            await self.gate.service.resend_verification(
                session.token.sub, client=self.gate.client_info(request)
            )
        except NothingToVerify:
            return self._back("already_verified", session)
        except RateLimited as exc:
            response = await self.render_account(
                request, session, email_error=throttled(exc), status_code=429
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except NotFound:
            return self.signed_out()
        return self._back("verification_sent", session)

    async def change_password(self, request: Request) -> Response:
        form, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        current, new = form["current_password"], form["new_password"]
        errors: dict[str, str] = {}
        if not current:
            errors["pw-current"] = "Enter your current password."
        if not new:
            errors["pw-new"] = "Choose a new password."
        if not errors:
            try:
                pair = await self.gate.service.change_password(
                    session.token.sub,
                    current,
                    new,
                    current_session=session.token.sid,
                    client=self.gate.client_info(request),
                )
            except InvalidCredentials:
                errors["pw-current"] = "That is not your current password."
            except PasswordRejected as exc:
                errors["pw-new"] = exc.reason
            except InvalidRequest as exc:
                errors["pw-new"] = exc.message
            except RateLimited as exc:
                return await self.render_account(
                    request, session, form_error=throttled(exc), status_code=429
                )
            except TokenError:  # this session ended meanwhile; nothing was changed
                return self.signed_out()
            else:
                # Every session ended, this browser's too; the service opened it a new
                # one: its cookies replace the old ones.
                if pair is None:
                    return self.signed_out("password_changed_signin")
                response = redirect("/account?m=password_changed")
                self.signed_in(response, pair)
                return response
        return await self.render_account(request, session, errors=errors, status_code=400)
