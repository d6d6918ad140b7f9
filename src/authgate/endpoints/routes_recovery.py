"""Account recovery by email: password reset, address verification, address change
(SECURITY.md A.7 #57).

* ``POST {prefix}/password-reset`` ``{"email"}`` or ``{"username"}`` → 202, the same
  body whether or not the account exists.
* ``POST {prefix}/password-reset/confirm`` ``{"token", "new_password"}`` → 204.
* ``POST {prefix}/email/verify`` ``{"token"}`` → 204.
* ``POST {prefix}/email/verify/request`` ``{"email"}`` or ``{"username"}`` → 202: a new
  verification message for a signed-out user (login said ``email_not_verified``); the
  same body as the reset request, and the same work, whether the account exists, is
  verified or has no address; the previous link stops working.
* ``POST {users_prefix}/me/email`` ``{"email", "current_password"}`` → 202.
* ``POST {users_prefix}/me/email/verify`` (no body) → 202: a new verification
  message for the caller's unverified address; 409 ``nothing_to_verify`` when it is
  verified or there is none. Under the users prefix with the other calls that act on
  the caller's own account (bearer, or cookie with the CSRF header); the
  ``{prefix}/email/verify`` above is the anonymous one that takes a link's token.

The tokens travel in the links' fragments (``/reset#token=…``), which a browser never
sends; the pages' scripts post them here. Every answer is ``Cache-Control: no-store``.
"""

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from authgate.endpoints.routes_users import json_body
from authgate.tokens import VerifiedToken
from authgate.web.errors import responses

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["recovery_routes"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_PASSWORD = 4096
#: One answer for every reset request (OWASP Forgot Password CS: no account oracle).
ACCEPTED = {
    "status": "accepted",
    "detail": "if an account matches, a message with a link is on its way",
}


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, min_length=1, max_length=320)
    username: str | None = Field(None, min_length=1, max_length=256)


class ResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


class EmailToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=128)


class EmailChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    current_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


def _body(model: type[BaseModel]) -> dict[str, object]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def recovery_routes(gate: "EndpointContext") -> APIRouter:
    router = APIRouter(tags=["account recovery"], route_class=gate.route_class)
    limit = gate.route_class.max_body_bytes
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]
    csrf = (403,) if gate.settings.cookies.enabled else ()
    p = gate.prefix

    @router.post(
        f"{p}/password-reset",
        status_code=202,
        responses=responses(422, 429, 503),
        openapi_extra=_body(ResetRequest),
        summary="Ask for a password-reset message (same answer whether the account exists)",
    )
    async def reset(
        body: Annotated[ResetRequest, Depends(json_body(ResetRequest, limit))], request: Request
    ) -> Response:
        await gate.service.request_password_reset(
            email=body.email, username=body.username, client=gate.client_info(request)
        )
        return JSONResponse(ACCEPTED, status_code=202, headers=_NO_STORE)

    @router.post(
        f"{p}/password-reset/confirm",
        status_code=204,
        responses=responses(400, 422, 429, 503),
        openapi_extra=_body(ResetConfirm),
        summary="Set a new password with the token of a reset message; ends every session",
    )
    async def reset_confirm(
        body: Annotated[ResetConfirm, Depends(json_body(ResetConfirm, limit))], request: Request
    ) -> Response:
        await gate.service.confirm_password_reset(
            body.token, body.new_password, client=gate.client_info(request)
        )
        return Response(status_code=204, headers=_NO_STORE)

    @router.post(
        f"{p}/email/verify",
        status_code=204,
        responses=responses(400, 409, 422, 429, 503),
        openapi_extra=_body(EmailToken),
        summary="Confirm an email address with the token of a verification message",
    )
    async def verify(
        body: Annotated[EmailToken, Depends(json_body(EmailToken, limit))], request: Request
    ) -> Response:
        await gate.service.verify_email(body.token, client=gate.client_info(request))
        return Response(status_code=204, headers=_NO_STORE)

    @router.post(
        f"{p}/email/verify/request",
        status_code=202,
        responses=responses(422, 429, 503),
        openapi_extra=_body(ResetRequest),
        summary=(
            "Ask for a new verification message while signed out "
            "(same answer whether the account exists)"
        ),
    )
    async def verify_request(
        body: Annotated[ResetRequest, Depends(json_body(ResetRequest, limit))], request: Request
    ) -> Response:
        await gate.service.request_email_verification(
            email=body.email, username=body.username, client=gate.client_info(request)
        )
        return JSONResponse(ACCEPTED, status_code=202, headers=_NO_STORE)

    @router.post(
        f"{gate.users_prefix}/me/email",
        status_code=202,
        responses=responses(400, 401, *csrf, 422, 429, 503),
        openapi_extra=_body(EmailChange),
        summary="Change the address: confirmed from the new address",
    )
    async def change(
        caller: Caller,
        body: Annotated[EmailChange, Depends(json_body(EmailChange, limit))],
        request: Request,
    ) -> Response:
        await gate.service.request_email_change(
            caller.sub, body.email, body.current_password, client=gate.client_info(request)
        )
        return JSONResponse(
            {"status": "accepted", "detail": "confirm the change from the new address"},
            status_code=202,
            headers=_NO_STORE,
        )

    @router.post(
        f"{gate.users_prefix}/me/email/verify",
        status_code=202,
        responses=responses(401, *csrf, 404, 409, 429, 503),
        summary="Send the verification message again; the previous link stops working",
    )
    async def resend(caller: Caller, request: Request) -> Response:
        await gate.service.resend_verification(caller.sub, client=gate.client_info(request))
        return JSONResponse(
            {"status": "accepted", "detail": "a new verification message is on its way"},
            status_code=202,
            headers=_NO_STORE,
        )

    return router
