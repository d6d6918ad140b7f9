"""``/account/mfa/...``: enrol a TOTP factor (QR code), confirm it and see the
recovery codes once, new recovery codes, remove the factor (current password)."""

from __future__ import annotations

from fastapi import Request, Response
from markupsafe import Markup

from authgate.errors import (
    InvalidCode,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    PasswordRejected,
    RateLimited,
)
from authgate.pages._account import AccountPages
from authgate.pages._base import redirect, throttled

__all__ = ["MfaPages"]


class MfaPages(AccountPages):
    async def start_totp(self, request: Request) -> Response:
        _, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        try:
            found = await self.gate.service.enrol_totp(session.token.sub)
        except InvalidRequest:  # already enrolled
            return await self.render_account(request, session)
        # segno's SVG of our own otpauth URI: markup we made, no input from the request.
        qr = Markup(found.qr_svg)  # noqa: S704
        return await self.render_account(request, session, enrolment=found, qr=qr)

    async def confirm_totp(self, request: Request) -> Response:
        form, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        try:
            codes = await self.gate.service.confirm_totp(
                session.token.sub, form["code"].strip(), client=self.gate.client_info(request)
            )
        except InvalidCode:
            return await self.render_account(
                request, session, errors={"mfa-code": "That code is not right."}, status_code=400
            )
        except NotFound:
            return redirect("/account")
        except RateLimited as exc:
            return await self.render_account(
                request, session, form_error=throttled(exc), status_code=429
            )
        return await self.render_account(request, session, recovery_codes=codes)

    async def new_recovery_codes(self, request: Request) -> Response:
        form, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        try:
            codes = await self.gate.service.regenerate_recovery_codes(
                session.token.sub, form["password"], client=self.gate.client_info(request)
            )
        except (InvalidCredentials, InvalidRequest):
            errors = {"mfa-codes-password": "That is not your current password."}
            return await self.render_account(request, session, errors=errors, status_code=400)
        except NotFound:
            return redirect("/account")
        except RateLimited as exc:
            return await self.render_account(
                request, session, form_error=throttled(exc), status_code=429
            )
        return await self.render_account(request, session, recovery_codes=codes)

    async def remove_totp(self, request: Request) -> Response:
        form, session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        try:
            await self.gate.service.remove_totp(
                session.token.sub, form["password"], client=self.gate.client_info(request)
            )
        except (InvalidCredentials, InvalidRequest):
            errors = {"mfa-remove-password": "That is not your current password."}
            return await self.render_account(request, session, errors=errors, status_code=400)
        except PasswordRejected as exc:  # the last factor, and a short password (A.7 #58)
            errors = {"mfa-remove-password": exc.reason}
            return await self.render_account(request, session, errors=errors, status_code=422)
        except NotFound:
            return redirect("/account")
        except RateLimited as exc:
            return await self.render_account(
                request, session, form_error=throttled(exc), status_code=429
            )
        return self._back("mfa_removed", session)
