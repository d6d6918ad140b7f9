"""The contract between the auth service and its callers (web layer, CLI, tests).

``authgate.service.AuthService`` implements it; the web layer and the CLI type
against this Protocol only. Errors are always from :mod:`authgate.errors`.

Security events are written to the audit table and logged on the
``authgate.audit`` logger with ``extra={"event": <name>, ...}`` (never a token or a
password); the web layer counts them for ``/metrics``. Event names:
``login_ok``, ``login_failed``, ``login_throttled``, ``refresh``, ``refresh_reuse``,
``logout``, ``logout_all``, ``revoke``, ``password_changed``, ``session_ended``,
``user_registered``, ``user_disabled``, ``key_rotated``, ``password_change_failed``,
``registration_throttled``, ``refresh_failed``, ``password_reset_requested``,
``password_reset_done``, ``email_verified``, ``email_change_requested``, ``email_changed``.
``refresh_reuse`` (a theft signal, RFC 9700 §4.14.2) is logged at WARNING, the others at INFO.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from authgate.service.types import ClientInfo, SessionInfo, TokenPair, User
from authgate.settings import Settings
from authgate.tokens import KeyRing, TokenCodec, VerifiedToken

__all__ = ["AUDIT_LOGGER", "AuthServiceProtocol"]

AUDIT_LOGGER = "authgate.audit"


class AuthServiceProtocol(Protocol):
    settings: Settings
    codec: TokenCodec
    keyring: KeyRing

    async def verify_access_token(self, token: str) -> VerifiedToken:
        """The hot path: signature, claims and in-memory revocation; no I/O.

        Raises:
            TokenError: any reason the token is not acceptable.
        """
        ...

    async def request_password_reset(
        self,
        *,
        email: str | None = None,
        username: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Queue a reset message when the account exists; the same work either way.

        Raises: InvalidRequest, RateLimited."""
        ...

    async def confirm_password_reset(
        self, token: str, new_password: str, *, client: ClientInfo | None = None
    ) -> None:
        """Raises: InvalidGrant (dead token), PasswordRejected, InvalidRequest, RateLimited."""
        ...

    async def verify_email(self, token: str, *, client: ClientInfo | None = None) -> None:
        """Raises: InvalidGrant (dead token), UsernameTaken (address taken), RateLimited."""
        ...

    async def request_email_change(
        self,
        user_id: str,
        new_email: str,
        current_password: str,
        *,
        client: ClientInfo | None = None,
    ) -> None:
        """Raises: InvalidRequest, InvalidCredentials, RateLimited."""
        ...

    def outbox_counts(self) -> Mapping[str, int]:
        """``pending``, ``sent``, ``failed`` of the email outbox (``/metrics``)."""
        ...

    async def register(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        scopes: Iterable[str] | None = None,
        client: ClientInfo | None = None,
    ) -> User:
        """Raises: UsernameTaken, PasswordRejected (policy), InvalidRequest (bad username),
        RateLimited (too many sign-ups from ``client.ip`` this hour; callers on the
        web pass the client, the CLI passes none and is not limited)."""
        ...

    async def login(
        self, username: str, password: str, *, scope: str | None, client: ClientInfo
    ) -> TokenPair:
        """Password login: scope granted = requested ∩ allowed (all allowed when None).

        Raises: InvalidCredentials (unknown user, wrong password, disabled: one
        error), RateLimited, InvalidScope, InvalidRequest (oversized password).
        """
        ...

    async def refresh(
        self, refresh_token: str, *, scope: str | None, client: ClientInfo
    ) -> TokenPair:
        """Rotate a refresh token (RFC 9700 §4.14.2).

        Raises: InvalidGrant (unknown, expired, ended), RefreshReuse (replay
        after the grace window: the whole session is ended), InvalidScope.
        """
        ...

    async def logout(self, token: VerifiedToken) -> None:
        """End the token's session and deny its jti."""
        ...

    async def logout_all(self, user_id: str, *, client: ClientInfo | None = None) -> None:
        """End every session of the user; every earlier access token fails. ``client``
        is recorded in the audit event."""
        ...

    async def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """RFC 7009: revoke an access or refresh token; unknown tokens are not an error."""
        ...

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2 answer: ``{"active": false}`` or ``{"active": true, ...claims}``."""
        ...

    async def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        current_session: str | None = None,
        client: ClientInfo | None = None,
    ) -> TokenPair | None:
        """Ends every session and access token, the caller's included, and opens a new
        session for ``current_session``: returns its token pair (None without one).

        Raises: InvalidCredentials, RateLimited (the login throttle, by account and
        ``client.ip``), PasswordRejected, Revoked (``current_session`` is not active;
        nothing changed)."""
        ...

    async def get_user(self, user_id: str) -> User:
        """Raises NotFound."""
        ...

    async def get_user_by_username(self, username: str) -> User:
        """Raises NotFound."""
        ...

    async def list_users(self) -> list[User]: ...

    async def set_scopes(self, user_id: str, scopes: Iterable[str]) -> User: ...

    async def disable_user(self, user_id: str) -> None:
        """Disable the user and end all of their sessions and access tokens."""
        ...

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """Active sessions only, newest first."""
        ...

    async def end_session(self, user_id: str, session_id: str) -> None:
        """Raises NotFound when the session is not the user's or not active."""
        ...

    async def rotate_keys(self, *, now: bool = False) -> str:
        """Publish a next key; the maintenance pass promotes it once it has been in the
        JWK Set for the max-age. ``now``: promote at once. Returns its kid.

        Raises:
            ConfigError: the signing key is configured (replace it there instead).
        """
        ...

    async def retire_key(self, kid: str, *, now: bool = False) -> None:
        """Stop verifying with ``kid``: at once with ``now``, else when its tokens expire.

        Raises:
            NotFound: no such key.
            UnsafeKey: ``kid`` is the active key.
        """
        ...

    async def ready(self) -> bool:
        """True when the database answers."""
        ...

    def sync_counts(self) -> Mapping[str, int]:
        """Counters of the revocation fan-out, for ``/metrics``: ``messages`` received
        on the Redis channel, ``coalesced`` (a read of the log was already queued, so
        the message added nothing) and ``reads`` of the revocation log."""
        ...

    async def aclose(self) -> None: ...
