"""The contract between the auth service and its callers (web layer, CLI, tests).

``authgate.service.AuthService`` implements it; the web layer and the CLI type
against this Protocol only. Errors are always from :mod:`authgate.errors`.

Security events are written to the audit table and logged on the
``authgate.audit`` logger with ``extra={"event": <name>, ...}`` (never a token or a
password); the web layer counts them for ``/metrics``. Event names:
``login_ok``, ``login_failed``, ``login_throttled``, ``refresh``, ``refresh_reuse``,
``logout``, ``logout_all``, ``revoke``, ``password_changed``, ``session_ended``,
``user_registered``, ``user_disabled``, ``key_rotated``, ``password_change_failed``,
``registration_throttled``, ``refresh_failed``, ``client_auth_failed``,
``client_throttled``, ``mfa_required``, ``mfa_failed``,
``mfa_throttled``, ``mfa_enrolled``, ``mfa_removed``, ``recovery_code_used``,
``recovery_codes_new``, ``passkey_registered``, ``passkey_deleted``,
``passkey_reauth_failed``, ``passkey_login`` (with the session's ``login_ok``, whose
``amr`` says ``hwk`` or ``swk``), ``passkey_login_failed``, ``passkey_clone_suspected``,
``password_reset_requested``, ``password_reset_done``, ``email_verified``,
``email_verification_resent``, ``email_change_requested``, ``email_changed``, ``key_promoted``,
``passkey_options_throttled``, ``user_imported_update`` (``users import --update``
changed an account: what changed, whether it was cut off), ``user_scopes_changed``
(``users set-scopes``: added, removed, whether it was cut off); all of them:
``AUDIT_EVENTS``. ``refresh_reuse`` (a theft signal, RFC 9700 §4.14.2) is logged at
WARNING, the others at INFO.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from authgate.domain import Api, MfaStatus, Passkey, TotpEnrolment
from authgate.service.audit import AUDIT_EVENTS, AUDIT_LOGGER
from authgate.service.client_auth import ClientAuthenticator
from authgate.service.client_grants import ClientGrants
from authgate.service.registry import Registry
from authgate.service.resources import Resources
from authgate.service.second_step import SecondSteps
from authgate.service.types import ClientInfo, SessionInfo, TokenPair, User
from authgate.settings import Settings
from authgate.tokens import KeyRing, TokenCodec, VerifiedToken

__all__ = ["AUDIT_EVENTS", "AUDIT_LOGGER", "AuthServiceProtocol"]


class AuthServiceProtocol(Protocol):
    settings: Settings
    codec: TokenCodec
    keyring: KeyRing
    #: Registered APIs and clients (issue 15; ``authgate apis`` / ``clients``).
    registry: Registry
    #: ``resource`` → the API a token is minted for (RFC 8707).
    resources: Resources
    client_auth: ClientAuthenticator
    client_grants: ClientGrants

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

    async def resend_verification(self, user_id: str, *, client: ClientInfo | None = None) -> None:
        """Raises: NothingToVerify (verified, or no address), NotFound, RateLimited."""
        ...

    async def request_email_verification(
        self,
        *,
        email: str | None = None,
        username: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """A signed-out user's new verification message, when the account exists and
        its address is unverified; the same work either way.

        Raises: InvalidRequest, RateLimited."""
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
        self,
        username: str,
        password: str,
        *,
        scope: str | None,
        client: ClientInfo,
        target: Api | None = None,
    ) -> TokenPair:
        """Password login: scope granted = requested ∩ allowed (all allowed when None);
        with a ``target`` API the access token is for its audience and its scopes only.

        Raises: InvalidCredentials (unknown user, wrong password, disabled: one
        error), RateLimited, InvalidScope, InvalidTarget, InvalidRequest (oversized
        password).
        """
        ...

    async def refresh(
        self,
        refresh_token: str,
        *,
        scope: str | None,
        client: ClientInfo,
        target: Api | None = None,
    ) -> TokenPair:
        """Rotate a refresh token (RFC 9700 §4.14.2); ``target`` as for :meth:`login`.

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

    async def password_min_length(self, user_id: str) -> int:
        """The fewest characters a new password of ``user_id`` may have (lower with a
        confirmed second factor: NIST SP 800-63B-4 §3.1.1.2)."""
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

    #: The registry of second-step methods (``otp``, ``recovery_code``; add more here).
    second_steps: SecondSteps

    def pick_second_step(self, proofs: Mapping[str, str | None]) -> tuple[str, str]:
        """The one (method, proof) among the request's parameters. Raises InvalidRequest."""
        ...

    async def complete_mfa(
        self, mfa_token: str, method_name: str, proof: str, *, client: ClientInfo
    ) -> TokenPair:
        """The login's second step (``service/mfa_login.py``). Raises: InvalidGrant
        (bad, used or expired token; wrong or used proof), RateLimited, InvalidRequest."""
        ...

    async def mfa_status(self, user_id: str) -> MfaStatus: ...

    async def enrol_totp(self, user_id: str) -> TotpEnrolment:
        """Raises: NotFound, InvalidRequest (a factor is already confirmed)."""
        ...

    async def confirm_totp(self, user_id: str, code: str, *, client: ClientInfo) -> list[str]:
        """The new recovery codes. Raises: InvalidCode, NotFound, RateLimited."""
        ...

    async def remove_totp(self, user_id: str, password: str, *, client: ClientInfo) -> None:
        """Raises: InvalidCredentials (re-authentication), RateLimited, NotFound,
        PasswordRejected (the last second factor, and a password that cannot stand
        alone; SECURITY.md A.7 #58)."""
        ...

    async def regenerate_recovery_codes(
        self, user_id: str, password: str, *, client: ClientInfo
    ) -> list[str]:
        """Raises: InvalidCredentials, RateLimited, NotFound."""
        ...

    async def get_user(self, user_id: str) -> User:
        """Raises NotFound."""
        ...

    async def get_user_by_username(self, username: str) -> User:
        """Raises NotFound."""
        ...

    async def list_users(self) -> list[User]: ...

    async def set_scopes(self, user_id: str, scopes: Iterable[str]) -> User:
        """Replace the user's allowed scopes; removing one ends all of the user's
        sessions and access tokens, adding one ends nothing.

        Raises:
            NotFound: no such user.
            InvalidScope: a scope no API (nor authgate) defines.
        """
        ...

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

    async def passkey_registration_options(
        self,
        user_id: str,
        *,
        session_id: str | None,
        current_password: str | None,
        client: ClientInfo,
    ) -> dict[str, Any]:
        """WebAuthn creation options (JSON) after a re-authentication: the current
        password, or a session opened within ``webauthn.reauth_window``.

        Raises: InvalidCredentials, RateLimited, InvalidRequest (too many passkeys)."""
        ...

    async def register_passkey(
        self, user_id: str, credential: dict[str, Any], *, name: str, client: ClientInfo
    ) -> Passkey:
        """Verify a registration response (W3C WebAuthn L3 §7.1) and store it.

        Raises: InvalidRequest (challenge, ceremony, duplicate, name)."""
        ...

    async def list_passkeys(self, user_id: str) -> list[Passkey]: ...

    async def rename_passkey(self, user_id: str, credential_id: str, name: str) -> Passkey:
        """Raises NotFound, InvalidRequest."""
        ...

    async def delete_passkey(
        self,
        user_id: str,
        credential_id: str,
        *,
        client: ClientInfo,
        current_password: str | None = None,
    ) -> None:
        """Raises NotFound; the account's last second factor needs the current
        password, fit to stand alone (InvalidRequest, InvalidCredentials,
        PasswordRejected; SECURITY.md A.7 #58)."""
        ...

    async def passkey_login_options(
        self, mfa_token: str | None = None, *, ip: str | None = None
    ) -> dict[str, Any]:
        """WebAuthn request options (JSON) naming no user, with a single-use challenge;
        with an ``mfa_token``, the options of that login's ``webauthn`` second step.

        Raises: InvalidGrant (a bad, used or expired ``mfa_token``), RateLimited
        (``ip`` asked for too many sign-in options)."""
        ...

    async def passkey_login(
        self, credential: dict[str, Any], *, scope: str | None, client: ClientInfo
    ) -> TokenPair:
        """Sign in with a discoverable credential (W3C WebAuthn L3 §7.2).

        Raises: InvalidGrant, RateLimited, InvalidScope."""
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
