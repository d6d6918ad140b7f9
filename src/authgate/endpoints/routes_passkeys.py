"""Passkeys over HTTP (W3C WebAuthn Level 3): the caller's own passkeys under
``/users/me/passkeys``, and signing in with one (``/auth/passkey/options``, then
``/auth/token`` with :data:`WEBAUTHN_GRANT`, or ``/auth/cookie/passkey`` for the
browser pages).

The credential travels as the JSON a browser's ``PublicKeyCredential.toJSON()``
gives (base64url members). Registration answers 422 naming what failed; a refused
assertion is one ``invalid_grant`` (RFC 6749 §5.2). Every answer is
``Cache-Control: no-store``.
"""

from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from authgate.endpoints.forms import read_body
from authgate.endpoints.passkey_grant import MAX_CREDENTIAL_JSON
from authgate.endpoints.routes_cookie import cookie_login_route
from authgate.endpoints.routes_oauth import oauth_endpoint
from authgate.endpoints.routes_users import json_body, request_body
from authgate.errors import InvalidRequest
from authgate.service.passkey_step import WEBAUTHN_STEP
from authgate.service.types import TokenPair
from authgate.tokens import VerifiedToken
from authgate.web.errors import responses

if TYPE_CHECKING:
    from authgate.domain import Passkey
    from authgate.endpoints.context import EndpointContext

__all__ = ["passkey_routes"]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_ID = Path(min_length=16, max_length=1400, pattern=r"^[A-Za-z0-9_-]+$")


class OptionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Not needed within ``webauthn.reauth_window`` seconds of the session's login.
    current_password: str | None = Field(None, min_length=1, max_length=4096)


class DeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Needed only when the passkey is the account's last second factor (SECURITY.md
    #: A.7 #58); no body otherwise.
    current_password: str | None = Field(None, min_length=1, max_length=4096)


class NewPasskey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any]
    name: str = Field("passkey", min_length=1, max_length=64)


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)


class CookiePasskeyLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: dict[str, Any]
    #: A login's second step (the page's hidden field) instead of a passkey sign-in.
    mfa_token: str | None = Field(None, min_length=1, max_length=256)


class PasskeyOut(BaseModel):
    id: str
    name: str
    created_at: float
    last_used_at: float | None
    backup_eligible: bool
    backed_up: bool
    transports: list[str]

    @classmethod
    def of(cls, p: "Passkey") -> "PasskeyOut":
        return cls(
            id=p.id,
            name=p.name,
            created_at=p.created_at,
            last_used_at=p.last_used_at,
            backup_eligible=p.backup_eligible,
            backed_up=p.backed_up,
            transports=list(p.transports),
        )


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def passkey_routes(gate: "EndpointContext") -> APIRouter:
    router = APIRouter(tags=["passkeys"], route_class=gate.route_class)
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]
    limit = MAX_CREDENTIAL_JSON + 1024
    Options = Annotated[OptionsRequest, Depends(json_body(OptionsRequest, limit))]
    New = Annotated[NewPasskey, Depends(json_body(NewPasskey, limit))]
    Name = Annotated[Rename, Depends(json_body(Rename, limit))]
    Deletion = Annotated[DeleteRequest, Depends(json_body(DeleteRequest, limit, optional=True))]
    base = f"{gate.users_prefix}/me/passkeys"
    csrf = (403,) if gate.settings.cookies.enabled else ()

    @router.post(
        f"{base}/options",
        responses=responses(400, 401, *csrf, 422, 429, 503),
        summary="Creation options for a new passkey (after re-authentication)",
    )
    async def creation_options(caller: Caller, body: Options, request: Request) -> Response:
        options = await gate.service.passkey_registration_options(
            caller.sub,
            session_id=caller.sid,
            current_password=body.current_password,
            client=gate.client_info(request),
        )
        return _json(options)

    @router.post(
        base,
        status_code=201,
        response_model=PasskeyOut,
        responses=responses(401, *csrf, 422, 503),
        summary="Register a passkey (the navigator.credentials.create() result)",
    )
    async def register(caller: Caller, body: New, request: Request) -> Response:
        passkey = await gate.service.register_passkey(
            caller.sub, body.credential, name=body.name, client=gate.client_info(request)
        )
        return _json(PasskeyOut.of(passkey).model_dump(), 201)

    @router.get(
        base,
        response_model=list[PasskeyOut],
        responses=responses(401, 503),
        summary="The caller's passkeys",
    )
    async def list_passkeys(caller: Caller) -> Response:
        found = await gate.service.list_passkeys(caller.sub)
        return _json([PasskeyOut.of(p).model_dump() for p in found])

    @router.patch(
        f"{base}/{{credential_id}}",
        response_model=PasskeyOut,
        responses=responses(401, *csrf, 404, 422, 503),
        summary="Rename a passkey",
    )
    async def rename(caller: Caller, credential_id: Annotated[str, _ID], body: Name) -> Response:
        passkey = await gate.service.rename_passkey(caller.sub, credential_id, body.name)
        return _json(PasskeyOut.of(passkey).model_dump())

    @router.delete(
        f"{base}/{{credential_id}}",
        status_code=204,
        responses=responses(400, 401, *csrf, 404, 422, 429, 503),
        summary="Delete a passkey (the last second factor: with the current password)",
        description=(
            'No body, or `{"current_password": ...}`: the account\'s last second factor '
            "needs the current password, and one that may stand alone (at least "
            "`passwords.min_length_single_factor` characters), else 422 `weak_password`: "
            "change the password first."
        ),
    )
    async def delete(
        caller: Caller, credential_id: Annotated[str, _ID], body: Deletion, request: Request
    ) -> Response:
        await gate.service.delete_passkey(
            caller.sub,
            credential_id,
            client=gate.client_info(request),
            current_password=body.current_password,
        )
        return Response(status_code=204, headers=_NO_STORE)

    @router.post(
        f"{gate.prefix}/passkey/options",
        responses=responses(400, 429, 503),
        summary="Request options: a passkey sign-in, or a login's second step",
        description=(
            "No body (or `{}`): options naming no user, for a discoverable credential. "
            'With `{"mfa_token": ...}` from a 403 `mfa_required` answer: the options of '
            "that login's `webauthn` second step (the user's passkeys); send the "
            "assertion JSON as the `webauthn` parameter of the `mfa` grant."
        ),
    )
    @oauth_endpoint
    async def request_options(request: Request) -> Response:
        raw = await read_body(request, limit)
        body: Any = {}
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest("body: not valid JSON") from exc
        token = body.get("mfa_token") if isinstance(body, dict) else None
        if not isinstance(body, dict) or (token is not None and not isinstance(token, str)):
            raise InvalidRequest("body: a JSON object with an optional mfa_token string")
        ip = gate.client_info(request).ip
        return _json(await gate.service.passkey_login_options(token, ip=ip))

    if gate.settings.cookies.enabled:
        _cookie_login(router, gate, limit)
    return router


def _cookie_login(router: APIRouter, gate: "EndpointContext", limit: int) -> None:
    read = json_body(CookiePasskeyLogin, limit)

    @cookie_login_route(
        router,
        gate,
        f"{gate.prefix}/cookie/passkey",
        summary="Sign in with a passkey (alone, or as a login's second step), setting cookies",
        codes=(400, 403, 429, 503),
        openapi_extra=request_body(CookiePasskeyLogin),
    )
    async def cookie_passkey(request: Request) -> TokenPair:
        # Login CSRF was refused first (Sec-Fetch-Site and Origin), before the body is
        # read or a challenge taken; the assertion is bound to our origin anyway.
        body = await read(request)
        client = gate.client_info(request)
        if body.mfa_token is not None:
            proof = orjson.dumps(body.credential).decode()
            return await gate.service.complete_mfa(
                body.mfa_token, WEBAUTHN_STEP, proof, client=client
            )
        return await gate.service.passkey_login(body.credential, scope=None, client=client)
