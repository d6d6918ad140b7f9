"""The OAuth endpoints: token (RFC 6749 §4.3 / §6), revocation (RFC 7009),
introspection (RFC 7662), logout and logout-all."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from authgate.endpoints.client_auth import read_client_credentials
from authgate.endpoints.forms import OAuthForm, read_form
from authgate.errors import InvalidRequest, MissingToken
from authgate.service.types import IssuedToken, RegisteredClient, TokenPair
from authgate.tokens import MAX_TOKEN_LENGTH, VerifiedToken
from authgate.web.errors import OAUTH_ENDPOINT_ATTR, responses

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = [
    "INTROSPECT_SCOPE",
    "TokenResponse",
    "form_body",
    "oauth_endpoint",
    "oauth_routes",
    "token_response",
]

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
    #: None (omitted) for grants without one (RFC 6749 §4.4.3, RFC 8693 §2.2.1).
    refresh_token: str | None = None
    scope: str
    #: RFC 8693 §2.2.1, token exchange only.
    issued_token_type: str | None = None


class IntrospectionResponse(BaseModel, extra="allow"):
    """RFC 7662 §2.2: ``active`` plus the token's claims when active."""

    active: bool


def oauth_endpoint(func: _F) -> _F:
    """Mark an endpoint as RFC 6749 §5.2-speaking (validation errors → 400)."""
    setattr(func, OAUTH_ENDPOINT_ATTR, True)
    return func


def token_response(pair: TokenPair | IssuedToken) -> JSONResponse:
    """RFC 6749 §5.1: the body, with ``Cache-Control: no-store`` and ``Pragma: no-cache``;
    members without a value are omitted."""
    body = TokenResponse(
        access_token=pair.access_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token if isinstance(pair, TokenPair) else None,
        scope=" ".join(sorted(pair.scope)),
        issued_token_type=pair.issued_token_type if isinstance(pair, IssuedToken) else None,
    )
    return JSONResponse(body.model_dump(exclude_none=True), headers=_NO_STORE)


def form_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": fields, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_TOKEN_ONLY_FORM = form_body(
    {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string", "enum": sorted(_TOKEN_HINTS)},
    },
    ["token"],
)


def oauth_routes(gate: "EndpointContext") -> APIRouter:
    """``/token``, ``/revoke``, ``/introspect``, ``/logout`` and ``/logout-all``."""
    router = APIRouter(prefix=gate.prefix, tags=["oauth"], route_class=gate.route_class)
    _add_revoke(router, gate)
    _add_introspect(router, gate)
    _add_logout(router, gate)
    return router


async def _authenticated_client(
    gate: "EndpointContext", request: Request, form: OAuthForm
) -> RegisteredClient | None:
    """The client that authenticated this request, or None when none tried."""
    creds = read_client_credentials(request, form)
    if creds is None:
        return None
    return await gate.service.client_auth.authenticate(
        creds, gate.client_info(request), endpoints=(gate.url(gate.token_path), str(request.url))
    )


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
        """RFC 7009 §2.2: 200 also for unknown or invalid tokens. An authenticated
        client (§2.1) revokes only its own tokens; without client authentication,
        only the first-party client's."""
        form = await read_form(request)
        token = form.require("token", max_length=MAX_TOKEN_LENGTH)
        hint = form.get("token_type_hint", max_length=64)
        client = await _authenticated_client(gate, request, form)
        if client is not None:
            await gate.service.client_grants.revoke(client, token)
            return Response(status_code=200, headers=_NO_STORE)
        # §2.1: an unknown hint is only a hint; the server searches all types anyway.
        await gate.service.revoke(token, hint if hint in _TOKEN_HINTS else None)
        return Response(status_code=200, headers=_NO_STORE)


def _add_introspect(router: APIRouter, gate: "EndpointContext") -> None:
    Introspector = Annotated[
        VerifiedToken | None, Security(gate.guard.optional_user, scopes=[INTROSPECT_SCOPE])
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
        """RFC 7662 §2.1: the caller is an authenticated client (which learns about
        tokens meant for its APIs) or presents a bearer token with
        ``authgate:introspect``; §2.2: inactive tokens reveal nothing."""
        try:
            form = await read_form(request)
        except InvalidRequest:
            # RFC 6750 §3.1: a caller with no credentials at all learns that first.
            if caller is None and "authorization" not in request.headers:
                raise MissingToken("no credentials") from None
            raise
        token = form.require("token", max_length=MAX_TOKEN_LENGTH)
        client = await _authenticated_client(gate, request, form)
        if client is not None:
            answer = await gate.service.client_grants.introspect(client, token)
            return JSONResponse(answer, headers=_NO_STORE)
        if caller is None:
            raise MissingToken("no credentials")
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
