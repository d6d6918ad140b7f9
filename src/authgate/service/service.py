"""``AuthService``: the façade that implements
:class:`authgate.service.protocol.AuthServiceProtocol` by delegating to the operation
objects (ARCHITECTURE.md, "The auth service"). Built by
:func:`authgate.service.compose.open_service`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from authgate.clock import Clock
from authgate.domain import ClientInfo, User
from authgate.errors import AuthError
from authgate.passwords import PasswordHasher
from authgate.service.accounts import Accounts
from authgate.service.audit_limit import FailureAudit
from authgate.service.client_auth import ClientAuthenticator
from authgate.service.client_grants import ClientGrants
from authgate.service.email_verification import EmailVerification
from authgate.service.keys import Keys
from authgate.service.keystore import KeyStore
from authgate.service.logins import Logins
from authgate.service.logouts import Logouts
from authgate.service.mfa_enrol import MfaEnrolments
from authgate.service.mfa_login import MfaLogins
from authgate.service.outbox import OutboxWorker
from authgate.service.passkey_logins import PasskeyLogins
from authgate.service.passkey_registration import PasskeyRegistrations
from authgate.service.password_change import PasswordChanges
from authgate.service.password_reset import PasswordResets
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.refreshes import Refreshes
from authgate.service.registry import Registry
from authgate.service.resources import Resources
from authgate.service.revocation import RevocationState
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle
from authgate.settings import Settings
from authgate.store.database import Database
from authgate.tokens import KeyRing, TokenCodec, VerifiedToken

__all__ = ["AuthService", "Operations"]

_log = logging.getLogger("authgate.service")


@dataclass(frozen=True, slots=True)
class Operations:
    """The operation objects the façade delegates to."""

    logins: Logins
    refreshes: Refreshes
    logouts: Logouts
    mfa_logins: MfaLogins
    mfa_enrolments: MfaEnrolments
    accounts: Accounts
    password_changes: PasswordChanges
    keys: Keys
    registry: Registry
    resources: Resources
    client_auth: ClientAuthenticator
    client_grants: ClientGrants
    passkeys: PasskeyRegistrations
    passkey_logins: PasskeyLogins
    password_resets: PasswordResets
    email_verification: EmailVerification
    outbox: OutboxWorker


class AuthService:
    """See :class:`~authgate.service.protocol.AuthServiceProtocol` for the contract."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database,
        ops: Operations,
        codec: TokenCodec,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        keystore: KeyStore,
        revocation: RevocationState,
        sync: RevocationSync,
        failure_audit: FailureAudit,
        horizon: float,
        exit_stack: AsyncExitStack,
    ) -> None:
        self.settings = settings
        self.db = db
        self.ops = ops
        self.codec = codec
        self.clock = clock
        self._hasher = hasher
        self.throttle = throttle
        self.keystore = keystore
        self.revocation = revocation
        self.sync = sync
        self.failure_audit = failure_audit
        self.horizon = horizon
        self._exit_stack = exit_stack
        o = ops
        # The façade's methods are the operations' own (no extra await per call).
        self.login = o.logins.login
        self.refresh = o.refreshes.refresh
        self.logout = o.logouts.logout
        self.revoke = o.logouts.revoke
        self.introspect = o.logouts.introspect
        self.registry = o.registry
        self.resources = o.resources
        self.client_auth = o.client_auth
        self.client_grants = o.client_grants
        self.get_user = o.accounts.get_user
        self.get_user_by_username = o.accounts.get_user_by_username
        self.list_users = o.accounts.list_users
        self.logout_all = o.accounts.logout_all
        self.disable_user = o.accounts.disable_user
        self.list_sessions = o.accounts.list_sessions
        self.end_session = o.accounts.end_session
        self.change_password = o.password_changes.change_password
        self.password_min_length = o.password_changes.min_length
        self.rotate_keys = o.keys.rotate
        self.retire_key = o.keys.retire
        self.promote_due_keys = o.keys.promote_due
        self.reload_keys = o.keys.reload
        self.passkey_registration_options = o.passkeys.options
        self.register_passkey = o.passkeys.register
        self.list_passkeys = o.passkeys.list
        self.rename_passkey = o.passkeys.rename
        self.delete_passkey = o.passkeys.delete
        self.passkey_login_options = o.passkey_logins.options
        self.passkey_login = o.passkey_logins.login
        self.complete_mfa = o.mfa_logins.complete
        self.pick_second_step = o.mfa_logins.pick
        self.second_steps = o.mfa_logins.steps
        self.mfa_status = o.mfa_enrolments.status
        self.enrol_totp = o.mfa_enrolments.enrol_totp
        self.confirm_totp = o.mfa_enrolments.confirm_totp
        self.remove_totp = o.mfa_enrolments.remove_totp
        self.regenerate_recovery_codes = o.mfa_enrolments.regenerate_recovery_codes
        self.request_password_reset = o.password_resets.request
        self.confirm_password_reset = o.password_resets.confirm
        self.verify_email = o.email_verification.verify
        self.resend_verification = o.email_verification.resend
        self.request_email_verification = o.email_verification.request
        self.request_email_change = o.email_verification.request_change

    async def register(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        scopes: Iterable[str] | None = None,
        client: ClientInfo | None = None,
    ) -> User:
        """Accounts.register, with the scopes (given or the defaults) owned by an API
        or by authgate once APIs are registered (registry.py)."""
        given = self.settings.default_scopes if scopes is None else list(scopes)
        await self.ops.registry.check_scopes(given, users=True)
        return await self.ops.accounts.register(
            username, password, email=email, scopes=scopes, client=client
        )

    async def set_scopes(self, user_id: str, scopes: Iterable[str]) -> User:
        """Accounts.set_scopes under the same ownership rule as :meth:`register`."""
        wanted = list(scopes)
        await self.ops.registry.check_scopes(wanted, users=True)
        return await self.ops.accounts.set_scopes(user_id, wanted)

    @property
    def hasher(self) -> PasswordHasher:
        return self._hasher

    @hasher.setter
    def hasher(self, hasher: PasswordHasher) -> None:
        """Replace the hasher everywhere it is used (tests count verifications); it is
        closed with the service."""
        self._hasher = self.ops.logins.hasher = hasher
        self.ops.accounts.hasher = self.ops.password_changes.hasher = hasher
        self.ops.passkeys.hasher = hasher
        self.ops.mfa_enrolments.hasher = hasher
        self.ops.password_resets.hasher = self.ops.email_verification.hasher = hasher
        self._exit_stack.callback(hasher.close)

    @property
    def keyring(self) -> KeyRing:
        return self.codec.keys

    @keyring.setter
    def keyring(self, ring: KeyRing) -> None:
        self.codec.keys = ring

    async def verify_access_token(self, token: str) -> VerifiedToken:
        """Signature, claims and the in-memory revocation check: no I/O."""
        return self.codec.verify(token)

    def sync_counts(self) -> dict[str, int]:
        return self.sync.counts.snapshot()

    def outbox_counts(self) -> dict[str, int]:
        """The email outbox as of its last pass: ``pending`` (not sent yet), and
        ``sent`` / ``failed`` attempts by this instance."""
        o = self.ops.outbox
        return {"pending": o.pending or 0, "sent": o.sent_count, "failed": o.failed_count}

    async def maintenance(self) -> None:
        """Purge what can no longer matter: expired revocations (memory and DB),
        retired keys, and refresh tokens of ended or expired sessions."""
        now = self.clock.now()
        self.revocation.purge(now, self.horizon)
        self.keyring.retire_expired(now)
        await self.promote_due_keys()
        async with self.db.write() as tx:
            await tx.log.purge_expired(now)
            await tx.sessions.purge_dead_tokens(now)
            await tx.registry.purge_jtis(now)
            await tx.challenges.purge_expired(now)
        await self.failure_audit.maintenance(now)  # A.7 #53: summaries, retention
        async with self.db.write() as tx:  # expired second steps of logins
            await tx.factors.purge_mfa_tokens(now)
        await self.ops.outbox.maintenance(now)  # expired email tokens, sent messages

    async def ready(self) -> bool:
        try:
            async with self.db.read() as tx:
                await tx.ping()
        except AuthError:
            return False
        return True

    async def aclose(self) -> None:
        """Stop the background tasks and release everything, in reverse order of
        :func:`~authgate.service.compose.open_service`'s building."""
        await self._exit_stack.aclose()

    async def flush_failure_audit(self) -> None:
        """SECURITY.md A.7 #53: the counts of open windows are written before closing."""
        try:
            await self.failure_audit.flush(self.clock.now(), everything=True)
        except AuthError as exc:
            _log.warning("audit summaries not written at close: %s", exc)


_check: type[AuthServiceProtocol] = AuthService
