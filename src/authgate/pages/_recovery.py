"""Account recovery pages: ``/forgot`` (ask for a reset message), ``/reset`` and
``/verify`` (the links in the messages).

The links carry their token in the URL fragment (``/reset#token=…``), which the
browser never sends to the server (SECURITY.md A.7 #57): these pages are static, and
their script (``recovery.js``, no inline script under the strict CSP) reads the
fragment, drops it from the address bar and history, and posts it to the JSON
endpoints. ``/forgot`` is a plain form (CSRF-checked) whose answer is the same
whether or not an account matched; so is ``POST /verify/request``, the sign-in page's
"Send a new verification link" (shown when a sign-in was refused for an unverified
address), which asks the service for what ``POST {prefix}/email/verify/request``
does.
"""

from __future__ import annotations

from fastapi import Request, Response

from authgate.errors import InvalidRequest, RateLimited, StoreUnavailable
from authgate.pages._base import STATIC_PREFIX, UNAVAILABLE, PageBase, redirect, throttled

__all__ = ["RecoveryPages"]


class RecoveryPages(PageBase):
    def _disabled(self) -> Response | None:
        if not self.cookies.enabled:
            return self.render.page("disabled.html", status_code=404, static=STATIC_PREFIX)
        return None

    def _forgot(
        self,
        request: Request,
        *,
        status_code: int = 200,
        errors: dict[str, str] | None = None,
        value: str = "",
        form_error: str | None = None,
    ) -> Response:
        return self.page(
            request,
            "forgot.html",
            status_code=status_code,
            errors=errors or {},
            value=value,
            form_error=form_error,
        )

    async def forgot_page(self, request: Request) -> Response:
        return self._disabled() or self._forgot(request)

    async def forgot(self, request: Request) -> Response:
        fields = await self.posted(request)
        if isinstance(fields, Response):
            return fields
        value = fields["email"].strip()
        if not value:
            errors = {"forgot-email": "Enter your email address or username."}
            return self._forgot(request, status_code=400, errors=errors)
        # An address has an @; a username never needs one to be found here.
        target = {"email": value} if "@" in value else {"username": value}
        try:
            await self.gate.service.request_password_reset(
                **target, client=self.gate.client_info(request)
            )
        except InvalidRequest as exc:
            errors = {"forgot-email": exc.message}
            return self._forgot(request, status_code=400, errors=errors, value=value)
        except RateLimited as exc:
            response = self._forgot(
                request, status_code=429, value=value, form_error=throttled(exc)
            )
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except StoreUnavailable:
            return self._forgot(request, status_code=503, value=value, form_error=UNAVAILABLE)
        return redirect("/?m=reset_sent")

    async def verify_request(self, request: Request) -> Response:
        """``POST /verify/request``: a new verification message for ``username``; the
        same redirect whether or not an account matched (SECURITY.md A.7 #57)."""
        fields = await self.posted(request)
        if isinstance(fields, Response):
            return fields
        username = fields["username"].strip()
        if not username:
            return redirect("/")
        try:
            await self.gate.service.request_email_verification(
                username=username, client=self.gate.client_info(request)
            )
        except InvalidRequest as exc:
            return self.problem(request, 400, "Bad request", exc.message)
        except RateLimited as exc:
            response = self.problem(request, 429, "Too many requests", throttled(exc))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except StoreUnavailable:
            return self.problem(request, 503, "Unavailable", UNAVAILABLE)
        return redirect("/?m=verification_requested")

    async def reset_page(self, request: Request) -> Response:
        passwords = self.settings.passwords
        return self._disabled() or self.page(
            request,
            "reset.html",
            errors={},
            confirm_url=f"{self.gate.prefix}/password-reset/confirm",
            # The page cannot know the account: the browser lets the lower minimum of an
            # account with a second factor through, the service judges (A.7 #58).
            min_length=max(passwords.min_length, passwords.min_length_with_mfa),
            alone_min_length=max(passwords.min_length, passwords.min_length_single_factor),
        )

    async def verify_page(self, request: Request) -> Response:
        return self._disabled() or self.page(
            request, "verify.html", verify_url=f"{self.gate.prefix}/email/verify"
        )
