"""Registration and the caller's own account: ``/users``, ``/users/me``, its password
and its sessions.

JSON bodies are read by :func:`json_body`, the parser the cookie login uses
(:func:`~authgate.endpoints.forms.read_json`: bounded, strict UTF-8, a nesting limit), and
every way a body can be wrong is one answer: 422 ``invalid_request`` naming the
field (``username: required``, ``body: must be a JSON object``). Everything here
carries user data or tokens, so every answer is ``Cache-Control: no-store``
(RFC 9111 §5.2.2.5).
"""

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response, Security
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from authgate.endpoints.forms import read_body
from authgate.endpoints.routes_cookie import CookieLoginResponse, cookie_answer
from authgate.endpoints.routes_oauth import TokenResponse, token_response
from authgate.errors import InvalidRequest, Revoked
from authgate.service.types import SessionInfo, User
from authgate.tokens import VerifiedToken
from authgate.web.errors import responses
from authgate.web.validation import describe_validation

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["json_body", "request_body", "user_routes"]

_M = TypeVar("_M", bound=BaseModel)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Bounds that stop oversized input before any hashing (SECURITY.md #35: a 1 MB password
# is refused fast); the service's policy applies the real rules.
_MAX_PASSWORD = 4096
_EMAIL = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
_EMAIL_SHAPE = re.compile(_EMAIL)


def _email(value: str | None) -> str | None:
    if value is not None and not _EMAIL_SHAPE.match(value):
        raise PydanticCustomError("email", "not a valid email address")
    return value


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    email: Annotated[
        str | None,
        Field(max_length=254, json_schema_extra={"pattern": _EMAIL}),
        AfterValidator(_email),
    ] = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    new_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


class UserOut(BaseModel):
    id: str
    username: str
    email: str | None
    email_verified: bool
    scopes: list[str]
    created_at: float

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            email_verified=user.email_verified,
            scopes=sorted(user.scopes),
            created_at=user.created_at,
        )


class SessionOut(BaseModel):
    id: str
    created_at: float
    last_used_at: float
    expires_at: float
    user_agent: str | None
    ip: str | None
    current: bool

    @classmethod
    def of(cls, s: SessionInfo, current: str | None) -> "SessionOut":
        return cls(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            expires_at=min(s.idle_expires_at, s.absolute_expires_at),
            user_agent=s.user_agent,
            ip=s.ip,
            current=s.id == current,
        )


def json_body(
    model: type[_M], limit: int, *, optional: bool = False
) -> Callable[[Request], Awaitable[_M]]:
    """A dependency that reads the body as JSON (RFC 8259, UTF-8, at most ``limit``
    bytes; orjson, so nesting is bounded without recursion) into ``model``; with
    ``optional``, no body at all is ``{}``.

    Raises:
        InvalidRequest: not JSON, not an object, or a field is missing or invalid;
            the message names the field.
    """

    async def read(request: Request) -> _M:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise InvalidRequest("body: must be a JSON object (Content-Type: application/json)")
        raw = await read_body(request, limit)
        if optional and not raw:
            return model.model_validate({})
        if not raw.strip():
            raise InvalidRequest("body: must be a JSON object")
        try:
            data: Any = orjson.loads(raw)
        except (ValueError, RecursionError) as exc:  # orjson.JSONDecodeError is a ValueError
            raise InvalidRequest("body: not valid JSON") from exc
        if not isinstance(data, dict):
            raise InvalidRequest("body: must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise InvalidRequest(describe_validation(exc.errors())) from exc

    return read


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a :func:`json_body` route."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


def user_routes(gate: "EndpointContext") -> APIRouter:
    router = APIRouter(prefix=gate.users_prefix, tags=["users"], route_class=gate.route_class)
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]
    limit = gate.route_class.max_body_bytes
    # RFC 9110 §9.2.1: a cookie-authenticated unsafe request needs the CSRF header (403).
    csrf = (403,) if gate.settings.cookies.enabled else ()

    if gate.settings.allow_registration:
        _register_route(router, gate, limit)

    @router.get(
        "/me",
        response_model=UserOut,
        responses=responses(401, 503),
        summary="The caller's account",
    )
    async def me(caller: Caller, response: Response) -> UserOut:
        response.headers.update(_NO_STORE)
        return UserOut.of(await gate.service.get_user(caller.sub))

    _password_route(router, gate, limit, csrf)

    @router.get(
        "/me/sessions",
        response_model=list[SessionOut],
        responses=responses(401, 503),
        summary="The caller's active sessions",
    )
    async def sessions(caller: Caller, response: Response) -> list[SessionOut]:
        response.headers.update(_NO_STORE)
        found = await gate.service.list_sessions(caller.sub)
        return [SessionOut.of(s, caller.sid) for s in found]

    @router.delete(
        "/me/sessions/{session_id}",
        status_code=204,
        responses=responses(401, *csrf, 404, 422, 503),
        summary="End one of the caller's sessions",
    )
    async def end_session(
        caller: Caller, session_id: Annotated[str, Path(min_length=1, max_length=128)]
    ) -> Response:
        await gate.service.end_session(caller.sub, session_id)
        return Response(status_code=204, headers=_NO_STORE)

    return router


def _register_route(router: APIRouter, gate: "EndpointContext", limit: int) -> None:
    Body = Annotated[Registration, Depends(json_body(Registration, limit))]

    @router.post(
        "",
        status_code=201,
        response_model=UserOut,
        responses=responses(409, 422, 429, 503),
        openapi_extra=request_body(Registration),
        summary="Register a user",
    )
    async def register(body: Body, request: Request, response: Response) -> UserOut:
        response.headers.update(_NO_STORE)
        user = await gate.service.register(
            body.username, body.password, email=body.email, client=gate.client_info(request)
        )
        return UserOut.of(user)


def _password_route(
    router: APIRouter, gate: "EndpointContext", limit: int, csrf: tuple[int, ...]
) -> None:
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]
    Body = Annotated[PasswordChange, Depends(json_body(PasswordChange, limit))]

    @router.post(
        "/me/password",
        response_model=TokenResponse | CookieLoginResponse,
        responses=responses(400, 401, *csrf, 422, 429, 503),
        openapi_extra=request_body(PasswordChange),
        summary="Change the password; ends every session, returns the caller's new tokens",
        description=(
            "Every session and access token ends, the caller's included, and the caller "
            "gets a new session: its token pair (RFC 6749 §5.1) or, when the request came "
            "with the access cookie, new cookies and `{expires_in, scope, csrf_token}`. "
            "The old refresh token no longer works."
        ),
    )
    async def change_password(caller: Caller, body: Body, request: Request) -> Response:
        # The caller first: FastAPI resolves dependencies in order, and a body is read
        # only for an authenticated caller (401 before 422).
        if caller.sid is None:  # authgate's tokens all carry one (RFC 9068 §2.2)
            raise Revoked("the access token has no session")
        pair = await gate.service.change_password(
            caller.sub,
            body.current_password,
            body.new_password,
            current_session=caller.sid,
            client=gate.client_info(request),
        )
        assert pair is not None  # a current_session always gets its new pair
        if (await gate.guard.authenticate(request.scope)).transport == "cookie":
            return cookie_answer(gate, pair)
        return token_response(pair)
