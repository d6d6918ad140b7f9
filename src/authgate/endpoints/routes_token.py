"""The token endpoint (RFC 6749 §3.2): one handler per ``grant_type``.

- ``password`` (§4.3: first-party login, not advertised, RFC 9700 §2.4) and
  ``refresh_token`` (§6, rotating): the public first-party client;
- ``client_credentials`` (§4.4) and token exchange (RFC 8693): an authenticated
  registered client (:mod:`authgate.endpoints.client_auth`);
- the login's second step (``urn:authgate:params:oauth:grant-type:mfa``,
  :mod:`authgate.endpoints.grant_mfa`) and the passkey login
  (``urn:authgate:params:oauth:grant-type:webauthn``): the first-party client.

``resource`` (RFC 8707) names the API the access token is for, on the password,
refresh, client-credentials and exchange grants. The second step and the passkey login
mint tokens for authgate's own audience only (``invalid_target`` otherwise): a
client then asks for an API's token with the refresh grant and ``resource``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from authgate.endpoints.client_auth import read_client_credentials
from authgate.endpoints.forms import OAuthForm, read_form
from authgate.endpoints.grant_mfa import MFA_GRANT_TYPE, mfa_grant
from authgate.endpoints.passkey_grant import WEBAUTHN_GRANT, parse_assertion
from authgate.endpoints.routes_oauth import TokenResponse, form_body, oauth_endpoint, token_response
from authgate.errors import InvalidClient, InvalidTarget, UnauthorizedClient
from authgate.service.client_auth import ClientCredentials
from authgate.service.registry import CLIENT_CREDENTIALS, TOKEN_EXCHANGE
from authgate.service.types import RegisteredClient
from authgate.tokens import MAX_TOKEN_LENGTH
from authgate.web.errors import oauth_error, responses

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["GRANT_TYPES", "token_routes"]

Handler = Callable[["EndpointContext", Request, OAuthForm], Awaitable[Response]]
_MAX_RESOURCE = 512


async def _client(
    gate: EndpointContext, request: Request, form: OAuthForm
) -> tuple[ClientCredentials | None, RegisteredClient | None]:
    creds = read_client_credentials(request, form)
    if creds is None:
        return None, None
    client = await gate.service.client_auth.authenticate(
        creds, gate.client_info(request), endpoints=(gate.url(gate.token_path),)
    )
    return creds, client


async def _password(gate: EndpointContext, request: Request, form: OAuthForm) -> Response:
    creds, _ = await _client(gate, request, form)
    if creds is not None:  # RFC 9700 §2.4: no password grant for registered clients
        raise UnauthorizedClient("this client may not use the password grant")
    target = await gate.service.resources.target(form.get("resource", max_length=_MAX_RESOURCE))
    pair = await gate.service.login(
        form.require("username", max_length=256),
        form.require("password", max_length=gate.settings.passwords.max_length),
        scope=form.get("scope", max_length=2048),
        client=gate.client_info(request),
        target=target,
    )
    return token_response(pair)


async def _refresh(gate: EndpointContext, request: Request, form: OAuthForm) -> Response:
    creds, _ = await _client(gate, request, form)
    if creds is not None:  # registered clients get no refresh tokens to present
        raise UnauthorizedClient("this client may not use the refresh_token grant")
    target = await gate.service.resources.target(form.get("resource", max_length=_MAX_RESOURCE))
    # Bounded like /revoke's token: anything up to it is judged as a token (an
    # access token sent here is invalid_grant, whatever its claims).
    pair = await gate.service.refresh(
        form.require("refresh_token", max_length=MAX_TOKEN_LENGTH),
        scope=form.get("scope", max_length=2048),
        client=gate.client_info(request),
        target=target,
    )
    return token_response(pair)


async def _first_party_only(
    gate: EndpointContext, request: Request, form: OAuthForm, grant: str
) -> None:
    creds, _ = await _client(gate, request, form)
    if creds is not None:  # RFC 9700 §2.4: the first-party login is not for clients
        raise UnauthorizedClient(f"this client may not use the {grant} grant")
    if form.get("resource", max_length=_MAX_RESOURCE):
        raise InvalidTarget("this grant mints tokens for authgate only; refresh with resource")


async def _mfa(gate: EndpointContext, request: Request, form: OAuthForm) -> Response:
    """The login's second step (403 ``mfa_required`` → this grant)."""
    await _first_party_only(gate, request, form, "mfa")
    return token_response(await mfa_grant(gate, form, gate.client_info(request)))


async def _webauthn(gate: EndpointContext, request: Request, form: OAuthForm) -> Response:
    """A passkey login: the assertion JSON (``PublicKeyCredential.toJSON()``) in the
    ``assertion`` field, for the challenge of ``POST /auth/passkey/options``."""
    await _first_party_only(gate, request, form, "webauthn")
    assertion = parse_assertion(form.require("assertion", max_length=16_384))
    pair = await gate.service.passkey_login(
        assertion, scope=form.get("scope", max_length=2048), client=gate.client_info(request)
    )
    return token_response(pair)


async def _authenticated(
    gate: EndpointContext, request: Request, form: OAuthForm
) -> RegisteredClient:
    _, client = await _client(gate, request, form)
    if client is None:
        raise InvalidClient("this grant needs client authentication")
    return client


async def _client_credentials(gate: EndpointContext, request: Request, form: OAuthForm) -> Response:
    client = await _authenticated(gate, request, form)
    issued = await gate.service.client_grants.client_credentials(
        client,
        scope=form.get("scope", max_length=2048),
        resource=form.get("resource", max_length=_MAX_RESOURCE),
    )
    return token_response(issued)


async def _exchange(gate: EndpointContext, request: Request, form: OAuthForm) -> Response:
    client = await _authenticated(gate, request, form)
    issued = await gate.service.client_grants.exchange(
        client,
        subject_token=form.require("subject_token", max_length=MAX_TOKEN_LENGTH),
        subject_token_type=form.require("subject_token_type", max_length=128),
        scope=form.get("scope", max_length=2048),
        resource=form.get("resource", max_length=_MAX_RESOURCE),
    )
    return token_response(issued)


#: grant_type → handler (RFC 6749 §4.3, §6, §4.4; RFC 8693 §2.1).
GRANT_TYPES: Mapping[str, Handler] = {
    "password": _password,
    "refresh_token": _refresh,
    CLIENT_CREDENTIALS: _client_credentials,
    TOKEN_EXCHANGE: _exchange,
    MFA_GRANT_TYPE: _mfa,
    WEBAUTHN_GRANT: _webauthn,
}

_TOKEN_FORM = form_body(
    {
        "grant_type": {"type": "string", "enum": sorted(GRANT_TYPES)},
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
        "resource": {"type": "string", "format": "uri"},
        "client_id": {"type": "string"},
        "client_secret": {"type": "string", "format": "password"},
        "client_assertion_type": {"type": "string"},
        "client_assertion": {"type": "string"},
        "subject_token": {"type": "string"},
        "subject_token_type": {"type": "string"},
        "mfa_token": {"type": "string"},
        "otp": {"type": "string"},
        "recovery_code": {"type": "string"},
        "assertion": {"type": "string", "description": "WebAuthn assertion JSON"},
    },
    [],
)


def token_routes(gate: EndpointContext) -> APIRouter:
    router = APIRouter(prefix=gate.prefix, tags=["oauth"], route_class=gate.route_class)

    @router.post(
        "/token",
        response_model=TokenResponse,
        response_model_exclude_none=True,
        responses=responses(400, 401, 403, 429, 503),
        openapi_extra=_TOKEN_FORM,
        summary="Token endpoint (login and its second step, refresh, clients, exchange)",
    )
    @oauth_endpoint
    async def token(request: Request) -> Response:
        """Dispatch on ``grant_type`` (``password`` when absent, for Swagger's
        Authorize); an unknown one is ``unsupported_grant_type`` (RFC 6749 §5.2)."""
        form = await read_form(request)
        grant = form.get("grant_type", max_length=64) or "password"
        handler = GRANT_TYPES.get(grant)
        if handler is None:
            return oauth_error(400, "unsupported_grant_type", "grant_type is not supported")
        return await handler(gate, request, form)

    return router
