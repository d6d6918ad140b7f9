"""The OAuth endpoints: token (RFC 6749 §4.3 / §6), revocation (RFC 7009),
introspection (RFC 7662), logout and logout-all."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from authgate.endpoints.forms import read_form
from authgate.endpoints.grant_mfa import MFA_GRANT_TYPE, mfa_grant
from authgate.endpoints.passkey_grant import WEBAUTHN_GRANT, parse_assertion
from authgate.service.types import TokenPair
from authgate.tokens import MAX_TOKEN_LENGTH, VerifiedToken
from authgate.web.errors import OAUTH_ENDPOINT_ATTR, oauth_error, responses

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["INTROSPECT_SCOPE", "TokenResponse", "oauth_routes", "token_response"]

#: RFC 7662 §2.1: the scope a bearer token needs to call ``/introspect``.
INTROSPECT_SCOPE = "authgate:introspect"

_F = TypeVar("_F", bound=Callable[..., Any])
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TOKEN_HINTS = frozenset({"access_token", "refresh_token"})


class TokenResponse(BaseModel):
    """RFC 6749 §5.1. ``token_type`` is ``Bearer`` as RFC 6750 §4 spells it (RFC 6749
    §7.1: clients compare it case-insensitively), the same as introspection answers."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str
    scope: str


class IntrospectionResponse(BaseModel, extra="allow"):
    """RFC 7662 §2.2: ``active`` plus the token's claims when active."""

    active: bool


def oauth_endpoint(func: _F) -> _F:
    """Mark an endpoint as RFC 6749 §5.2-speaking (validation errors → 400)."""
    setattr(func, OAUTH_ENDPOINT_ATTR, True)
    return func


def token_response(pair: TokenPair) -> JSONResponse:
    """RFC 6749 §5.1: the body, with ``Cache-Control: no-store`` and ``Pragma: no-cache``."""
    body = TokenResponse(
        access_token=pair.access_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        scope=" ".join(sorted(pair.scope)),
    )
    return JSONResponse(body.model_dump(), headers=_NO_STORE)


def _form_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": fields, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_TOKEN_FORM = _form_body(
    {
        "grant_type": {
            "type": "string",
            "enum": [
                "password",
                "refresh_token",
                "urn:authgate:params:oauth:grant-type:mfa",
                WEBAUTHN_GRANT,
            ],
        },
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "refresh_token": {"type": "string"},
        "assertion": {"type": "string", "description": "WebAuthn assertion JSON"},
        "scope": {"type": "string"},
        "mfa_token": {"type": "string"},
        "otp": {"type": "string"},
        "recovery_code": {"type": "string"},
    },
    [],
)
_TOKEN_ONLY_FORM = _form_body(
    {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string", "enum": sorted(_TOKEN_HINTS)},
    },
    ["token"],
)


def oauth_routes(gate: "EndpointContext") -> APIRouter:
    """``/token``, ``/revoke``, ``/introspect``, ``/logout`` and ``/logout-all``."""
    router = APIRouter(prefix=gate.prefix, tags=["oauth"], route_class=gate.route_class)
    _add_token(router, gate)
    _add_revoke(router, gate)
    _add_introspect(router, gate)
    _add_logout(router, gate)
    return router


def _add_token(router: APIRouter, gate: "EndpointContext") -> None:
    @router.post(
        "/token",
        response_model=TokenResponse,
        responses=responses(400, 403, 429, 503),
        openapi_extra=_TOKEN_FORM,
        summary="Token endpoint (password login, refresh)",
    )
    @oauth_endpoint
    async def token(request: Request) -> Response:
        """RFC 6749 §4.3 (first-party password login, the one Swagger's Authorize uses;
        not advertised in metadata, RFC 9700 §2.4) and §6 (refresh, rotating)."""
        form = await read_form(request)
        grant = form.get("grant_type", max_length=64) or "password"
        scope = form.get("scope", max_length=2048)
        client = gate.client_info(request)
        if grant == "password":
            pair = await gate.service.login(
                form.require("username", max_length=256),
                form.require("password", max_length=gate.settings.passwords.max_length),
                scope=scope,
                client=client,
            )
        elif grant == WEBAUTHN_GRANT:
            # The assertion JSON (PublicKeyCredential.toJSON()) in the ``assertion``
            # field, for the challenge of POST /auth/passkey/options.
            assertion = parse_assertion(form.require("assertion", max_length=16_384))
            pair = await gate.service.passkey_login(assertion, scope=scope, client=client)
        elif grant == "refresh_token":
            # Bounded like /revoke's token: anything up to it is judged as a token
            # (an access token sent here is invalid_grant, whatever its claims).
            refresh_token = form.require("refresh_token", max_length=MAX_TOKEN_LENGTH)
            pair = await gate.service.refresh(refresh_token, scope=scope, client=client)
        elif grant == MFA_GRANT_TYPE:  # the login's second step (403 mfa_required)
            pair = await mfa_grant(gate, form, client)
        else:
            return oauth_error(
                400,
                "unsupported_grant_type",
                f"grant_type must be password, refresh_token, {MFA_GRANT_TYPE} or {WEBAUTHN_GRANT}",
            )
        return token_response(pair)


def _add_revoke(router: APIRouter, gate: "EndpointContext") -> None:
    @router.post(
        "/revoke",
        status_code=200,
        response_class=Response,
        responses=responses(400, 503),
        openapi_extra=_TOKEN_ONLY_FORM,
        summary="Revoke a token (RFC 7009)",
    )
    @oauth_endpoint
    async def revoke(request: Request) -> Response:
        """RFC 7009 §2.2: 200 also for unknown or invalid tokens."""
        form = await read_form(request)
        token = form.require("token", max_length=MAX_TOKEN_LENGTH)
        hint = form.get("token_type_hint", max_length=64)
        # §2.1: an unknown hint is only a hint; the server searches all types anyway.
        await gate.service.revoke(token, hint if hint in _TOKEN_HINTS else None)
        return Response(status_code=200, headers=_NO_STORE)


def _add_introspect(router: APIRouter, gate: "EndpointContext") -> None:
    Introspector = Annotated[
        VerifiedToken, Security(gate.guard.current_user, scopes=[INTROSPECT_SCOPE])
    ]

    @router.post(
        "/introspect",
        response_model=IntrospectionResponse,
        responses=responses(400, 401, 403, 503),
        openapi_extra=_TOKEN_ONLY_FORM,
        summary="Introspect a token (RFC 7662)",
    )
    @oauth_endpoint
    async def introspect(request: Request, caller: Introspector) -> Response:
        """RFC 7662 §2.1: the caller is authorized by a bearer token with
        ``authgate:introspect``; §2.2: inactive tokens reveal nothing."""
        form = await read_form(request)
        token = form.require("token", max_length=MAX_TOKEN_LENGTH)
        answer = await gate.service.introspect(token)
        return JSONResponse(answer, headers=_NO_STORE)


def _add_logout(router: APIRouter, gate: "EndpointContext") -> None:
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]

    @router.post(
        "/logout",
        status_code=204,
        responses=responses(401, 403, 503),
        summary="End the caller's session",
    )
    async def logout(caller: Caller) -> Response:
        await gate.service.logout(caller)
        return Response(status_code=204)

    @router.post(
        "/logout-all",
        status_code=204,
        responses=responses(401, 403, 503),
        summary="End all the caller's sessions",
    )
    async def logout_all(caller: Caller, request: Request) -> Response:
        await gate.service.logout_all(caller.sub, client=gate.client_info(request))
        return Response(status_code=204)
