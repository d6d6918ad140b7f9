"""The caller's own TOTP factor and recovery codes under ``/users/me/mfa`` (the
login's second step is the ``mfa`` grant: :mod:`authgate.endpoints.grant_mfa`).

Every answer carries secrets (a TOTP secret, recovery codes, tokens), so every
answer is ``Cache-Control: no-store`` (RFC 9111 §5.2.2.5).
"""

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from pydantic import BaseModel, ConfigDict, Field

from authgate.endpoints.routes_users import json_body
from authgate.tokens import VerifiedToken
from authgate.web.errors import responses

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["mfa_routes"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class CodeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=4096)


class MfaStatusOut(BaseModel):
    totp: bool
    pending: bool
    recovery_codes_left: int


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


def mfa_routes(gate: "EndpointContext") -> APIRouter:
    router = APIRouter(prefix=gate.users_prefix, tags=["users"], route_class=gate.route_class)
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]
    limit = gate.route_class.max_body_bytes
    Code = Annotated[CodeBody, Depends(json_body(CodeBody, limit))]
    Password = Annotated[PasswordBody, Depends(json_body(PasswordBody, limit))]
    csrf = (403,) if gate.settings.cookies.enabled else ()

    @router.get(
        "/me/mfa",
        response_model=MfaStatusOut,
        responses=responses(401, 503),
        summary="The caller's second factors",
    )
    async def status(caller: Caller, response: Response) -> MfaStatusOut:
        response.headers.update(_NO_STORE)
        found = await gate.service.mfa_status(caller.sub)
        return MfaStatusOut(
            totp=found.totp, pending=found.pending, recovery_codes_left=found.recovery_codes_left
        )

    @router.post(
        "/me/mfa/totp",
        status_code=201,
        response_model=TotpEnrolmentOut,
        responses=responses(401, *csrf, 422, 503),
        summary="Start a TOTP enrolment (RFC 6238): secret, otpauth URI, QR code",
    )
    async def enrol(caller: Caller, response: Response) -> TotpEnrolmentOut:
        response.headers.update(_NO_STORE)
        found = await gate.service.enrol_totp(caller.sub)
        return TotpEnrolmentOut(secret=found.secret, otpauth_uri=found.uri, qr_svg=found.qr_svg)

    @router.post(
        "/me/mfa/totp/confirm",
        response_model=RecoveryCodesOut,
        responses=responses(400, 401, *csrf, 404, 422, 429, 503),
        summary="Confirm the TOTP enrolment with a first code; the recovery codes, once",
    )
    async def confirm(
        caller: Caller, body: Code, request: Request, response: Response
    ) -> RecoveryCodesOut:
        response.headers.update(_NO_STORE)
        codes = await gate.service.confirm_totp(
            caller.sub, body.code, client=gate.client_info(request)
        )
        return RecoveryCodesOut(recovery_codes=codes)

    @router.post(
        "/me/mfa/totp/remove",
        status_code=204,
        responses=responses(400, 401, *csrf, 404, 422, 429, 503),
        summary="Remove the TOTP factor and the recovery codes (current password)",
    )
    async def remove(caller: Caller, body: Password, request: Request) -> Response:
        await gate.service.remove_totp(caller.sub, body.password, client=gate.client_info(request))
        return Response(status_code=204, headers=_NO_STORE)

    @router.post(
        "/me/mfa/recovery-codes",
        response_model=RecoveryCodesOut,
        responses=responses(400, 401, *csrf, 404, 422, 429, 503),
        summary="New recovery codes replacing the old ones (current password)",
    )
    async def regenerate(
        caller: Caller, body: Password, request: Request, response: Response
    ) -> RecoveryCodesOut:
        response.headers.update(_NO_STORE)
        codes = await gate.service.regenerate_recovery_codes(
            caller.sub, body.password, client=gate.client_info(request)
        )
        return RecoveryCodesOut(recovery_codes=codes)

    return router
