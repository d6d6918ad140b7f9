"""Registration and the caller's own account: ``/users``, ``/users/me``, its password
and its sessions."""

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request, Response, Security
from pydantic import BaseModel, ConfigDict, Field

from authgate.service.types import SessionInfo, User
from authgate.tokens import VerifiedToken
from authgate.web.errors import responses

if TYPE_CHECKING:
    from authgate.web.gate import AuthGate

__all__ = ["user_routes"]

# Bounds that stop oversized input before any hashing (SECURITY.md #35: a 1 MB password
# is refused fast); the service's policy applies the real rules.
_MAX_PASSWORD = 4096


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)
    new_password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


class UserOut(BaseModel):
    id: str
    username: str
    email: str | None
    scopes: list[str]
    created_at: float

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
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


def user_routes(gate: "AuthGate") -> APIRouter:
    router = APIRouter(prefix=gate.users_prefix, tags=["users"], route_class=gate.route_class)
    Caller = Annotated[VerifiedToken, Security(gate.guard.current_user)]

    if gate.settings.allow_registration:

        @router.post(
            "",
            status_code=201,
            response_model=UserOut,
            responses=responses(409, 422, 429, 503),
            summary="Register a user",
        )
        async def register(body: Registration, request: Request) -> UserOut:
            user = await gate.service.register(
                body.username, body.password, email=body.email, client=gate.client_info(request)
            )
            return UserOut.of(user)

    @router.get("/me", response_model=UserOut, responses=responses(401, 403, 404, 503))
    async def me(caller: Caller) -> UserOut:
        return UserOut.of(await gate.service.get_user(caller.sub))

    @router.post(
        "/me/password",
        status_code=204,
        responses=responses(400, 401, 403, 422, 429, 503),
        summary="Change the password; ends the other sessions",
    )
    async def change_password(body: PasswordChange, caller: Caller, request: Request) -> Response:
        await gate.service.change_password(
            caller.sub,
            body.current_password,
            body.new_password,
            current_session=caller.sid,
            client=gate.client_info(request),
        )
        return Response(status_code=204)

    @router.get("/me/sessions", response_model=list[SessionOut], responses=responses(401, 403, 503))
    async def sessions(caller: Caller) -> list[SessionOut]:
        found = await gate.service.list_sessions(caller.sub)
        return [SessionOut.of(s, caller.sid) for s in found]

    @router.delete(
        "/me/sessions/{session_id}",
        status_code=204,
        responses=responses(401, 403, 404, 422, 503),
        summary="End one of the caller's sessions",
    )
    async def end_session(
        caller: Caller, session_id: Annotated[str, Path(min_length=1, max_length=128)]
    ) -> Response:
        await gate.service.end_session(caller.sub, session_id)
        return Response(status_code=204)

    return router
