"""Plain data the auth service hands to its callers (the web layer, the CLI, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ClientInfo", "SessionInfo", "TokenPair", "User"]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is calling: recorded on sessions and used by the throttle."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    email: str | None
    scopes: frozenset[str]
    disabled: bool
    created_at: float
    tokens_valid_after: float


@dataclass(frozen=True, slots=True)
class TokenPair:
    """The RFC 6749 §5.1 answer of a successful login or refresh."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: frozenset[str]
    session_id: str
    user_id: str
    #: RFC 6750 §4 spells it ``Bearer`` (RFC 6749 §7.1: compared case-insensitively);
    #: introspection (RFC 7662 §2.2) answers the same.
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    user_id: str
    created_at: float
    last_used_at: float
    idle_expires_at: float
    absolute_expires_at: float
    user_agent: str | None
    ip: str | None
    ended_at: float | None = None
    end_reason: str | None = None
    scope: frozenset[str] = field(default_factory=frozenset)
