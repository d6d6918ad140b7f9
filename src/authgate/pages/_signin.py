"""``/``: sign in, and sign up when registration is open."""

from __future__ import annotations

from fastapi import Request, Response

from authgate.errors import (
    EmailNotVerified,
    GrantError,
    InvalidCredentials,
    InvalidRequest,
    MfaRequired,
    PasswordRejected,
    RateLimited,
    StoreUnavailable,
    UsernameTaken,
)
from authgate.pages._base import STATIC_PREFIX, UNAVAILABLE, PageBase, redirect, throttled
from authgate.service.second_step import typed_code

__all__ = ["SignInPages"]


class SignInPages(PageBase):
    def form_page(
        self,
        request: Request,
        *,
        status_code: int = 200,
        mode: str = "signin",
        errors: dict[str, str] | None = None,
        form_error: str | None = None,
        username: str = "",
        email: str = "",
        retry_after: int | None = None,
        unverified: bool = False,
    ) -> Response:
        """The sign-in / sign-up page; ``unverified`` adds the "Send a new
        verification link" form (``POST /verify/request``) for ``username``. The
        sign-up form's address is required under ``require_verified_email``."""
        response = self.page(
            request,
            "signin.html",
            status_code=status_code,
            mode=mode,
            errors=errors or {},
            form_error=form_error,
            username=username,
            email=email,
            email_required=self.settings.require_verified_email,
            unverified=unverified,
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def signin_page(self, request: Request) -> Response:
        if not self.cookies.enabled:
            return self.render.page("disabled.html", status_code=404, static=STATIC_PREFIX)
        session = await self.session(request)
        if session is not None:
            response = redirect("/account")
            if session.refreshed is not None:
                self.signed_in(response, session.refreshed)
            return response
        return self.form_page(request)

    async def signin(self, request: Request) -> Response:
        fields = await self.posted(request)
        if isinstance(fields, Response):
            return fields
        username, password = fields["username"].strip(), fields["password"]
        errors: dict[str, str] = {}
        if not username:
            errors["signin-username"] = "Enter your username."
        if not password:
            errors["signin-password"] = "Enter your password."
        if errors:
            return self.form_page(request, status_code=400, errors=errors, username=username)
        client = self.gate.client_info(request)
        try:
            pair = await self.gate.service.login(username, password, scope=None, client=client)
        except InvalidCredentials:
            errors["signin-password"] = "Wrong username or password."
            return self.form_page(request, status_code=401, errors=errors, username=username)
        except EmailNotVerified:  # the right password: only the owner sees this
            errors["signin-password"] = (
                "Confirm your email address first: open the link in the message we sent you."
            )
            return self.form_page(
                request, status_code=403, errors=errors, username=username, unverified=True
            )
        except MfaRequired as exc:  # the password was right: the second step
            return self.second_step_page(request, exc.mfa_token)
        except RateLimited as exc:
            return self.form_page(
                request,
                status_code=429,
                form_error=throttled(exc),
                username=username,
                retry_after=exc.retry_after,
            )
        except InvalidRequest as exc:
            errors["signin-password"] = exc.message
            return self.form_page(request, status_code=400, errors=errors, username=username)
        except StoreUnavailable:
            return self.form_page(
                request, status_code=503, form_error=UNAVAILABLE, username=username
            )
        response = redirect("/account")
        self.signed_in(response, pair)
        return response

    async def signup(self, request: Request) -> Response:
        """``POST /signup``: the service's registration, as ``POST /users`` calls it.

        Under ``require_verified_email`` the address is required (the service refuses
        an account that could never be verified, SECURITY.md A.7 #57) and the page
        says to open the verification message instead of signing in, which would be
        refused. Every refusal is this page with the message beside its field.
        """
        if not self.settings.allow_registration:
            return Response(status_code=404)
        fields = await self.posted(request)
        if isinstance(fields, Response):
            return fields
        username, password = fields["username"].strip(), fields["password"]
        email = fields["email"].strip()
        strict = self.settings.require_verified_email
        errors: dict[str, str] = {}
        if not username:
            errors["signup-username"] = "Choose a username."
        if not email and strict:
            errors["signup-email"] = "Enter your email address: you confirm it before signing in."
        if not password:
            errors["signup-password"] = "Choose a password."
        if errors:
            return self._signup_refused(request, 400, username, email, errors=errors)
        service, client = self.gate.service, self.gate.client_info(request)
        try:
            await service.register(username, password, email=email or None, client=client)
        except UsernameTaken as exc:
            if "email" in exc.message:
                errors["signup-email"] = "That address has an account: sign in, or reset it."
            else:
                errors["signup-username"] = "That username is taken. Choose another, or sign in."
        except PasswordRejected as exc:
            errors["signup-password"] = exc.reason
        except InvalidRequest as exc:
            field = "signup-email" if exc.message.startswith("email") else "signup-username"
            errors[field] = exc.message
        except RateLimited as exc:
            response = self._signup_refused(
                request, 429, username, email, form_error=throttled(exc)
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except StoreUnavailable:
            return self._signup_refused(request, 503, username, email, form_error=UNAVAILABLE)
        if errors:
            return self._signup_refused(request, 400, username, email, errors=errors)
        if strict:  # the verification message is queued with the account
            return redirect("/?m=check_inbox")
        try:
            pair = await service.login(username, password, scope=None, client=client)
        except (GrantError, InvalidCredentials, RateLimited, StoreUnavailable):
            return redirect("/?m=created_signin")  # the account exists: sign in by hand
        response = redirect("/account?m=welcome")
        self.signed_in(response, pair)
        return response

    def _signup_refused(
        self,
        request: Request,
        status_code: int,
        username: str,
        email: str,
        *,
        errors: dict[str, str] | None = None,
        form_error: str | None = None,
    ) -> Response:
        return self.form_page(
            request,
            status_code=status_code,
            mode="signup",
            errors=errors,
            form_error=form_error,
            username=username,
            email=email,
        )

    def second_step_page(
        self,
        request: Request,
        mfa_token: str,
        *,
        status_code: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> Response:
        """The code form of a login whose password was right (the ``mfa_token``
        travels in a hidden field of this CSRF-protected, ``no-store`` form)."""
        response = self.page(
            request,
            "signin_mfa.html",
            status_code=status_code,
            mfa_token=mfa_token,
            error=error,
        )
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def second_step(self, request: Request) -> Response:
        """``POST /signin/mfa``: a TOTP code (6 digits) or a recovery code."""
        fields = await self.posted(request)
        if isinstance(fields, Response):
            return fields
        mfa_token, code = fields["mfa_token"], fields["code"].strip()
        if not mfa_token:
            return redirect("/?m=mfa_restart")
        if not code:
            return self.second_step_page(request, mfa_token, status_code=400, error="Enter a code.")
        method, proof = typed_code(code)
        client = self.gate.client_info(request)
        try:
            pair = await self.gate.service.complete_mfa(mfa_token, method, proof, client=client)
        except GrantError:
            return self.second_step_page(
                request,
                mfa_token,
                status_code=400,
                error="That code is not right, or this sign-in expired (then start again).",
            )
        except RateLimited as exc:
            return self.second_step_page(
                request,
                mfa_token,
                status_code=429,
                error=throttled(exc),
                retry_after=exc.retry_after,
            )
        except StoreUnavailable:
            return self.second_step_page(request, mfa_token, status_code=503, error=UNAVAILABLE)
        response = redirect("/account")
        self.signed_in(response, pair)
        return response
