"""Users and their sessions: registration, admin, sign-out everywhere.

Global invalidation (SECURITY.md A.4 #33, A.7 #48, ASVS 5.0 7.4.2–7.4.5):
``logout_all``, ``change_password``, ``disable_user`` and a ``set_scopes`` that
removes a scope bump the user's credential version, set ``tokens_valid_after`` = now
and end the user's sessions, in one transaction; see :mod:`authgate.service.revocation`
for how tokens are cut off.

The password change itself is in :mod:`authgate.service.password_change`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from authgate.clock import Clock
from authgate.domain import ClientInfo, RevocationEvent, SessionInfo, User
from authgate.errors import InvalidRequest, NotFound, RateLimited, UsernameTaken
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit
from authgate.service.audit_limit import FailureAudit
from authgate.service.emails import NormalizedEmail, normalize_email
from authgate.service.endings import Endings
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle
from authgate.service.users import new_id, normalize_username, parse_scope, scope_text
from authgate.store.protocols import Store, Transaction

__all__ = ["EMAIL_REQUIRED", "Accounts", "EmailHooks"]

#: The refusal of a registration without an address under ``require_verified_email``
#: (the field-named style of the endpoints' 422 ``invalid_request`` bodies).
EMAIL_REQUIRED = "email: required when addresses must be verified"


class EmailHooks(Protocol):
    async def queue_verification(
        self, tx: Transaction, user: User, mail: NormalizedEmail
    ) -> None: ...

    def wake(self) -> None: ...


class Accounts:
    def __init__(
        self,
        db: Store,
        *,
        default_scopes: Iterable[str],
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        endings: Endings,
        sync: RevocationSync,
        failure_audit: FailureAudit,
        require_email: bool = False,
    ) -> None:
        self.db = db
        self.default_scopes = default_scopes
        self.clock = clock
        self.hasher = hasher
        self.throttle = throttle
        self.endings = endings
        self.sync = sync
        self.failure_audit = failure_audit
        #: ``require_verified_email``: an account without an address could never be
        #: verified, so never sign in (SECURITY.md A.7 #57); registration refuses it.
        self.require_email = require_email
        #: Queues the verification message in the registration's transaction
        #: (:class:`authgate.service.email_verification.EmailVerification`).
        self.email_hooks: EmailHooks | None = None

    async def register(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        scopes: Iterable[str] | None = None,
        client: ClientInfo | None = None,
    ) -> User:
        """Create a user. With a ``client`` IP, sign-ups per address are limited
        (``throttle.registrations_per_ip_per_hour``): each costs an Argon2 hash.
        When addresses must be verified (``require_email``), an ``email`` is required:
        checked with the other input, before the throttle and before any row is written.

        Raises:
            UsernameTaken, PasswordRejected, RateLimited.
            InvalidRequest: a bad username or address, or no address when one is required.
        """
        display, key = normalize_username(username)
        if email is None and self.require_email:
            raise InvalidRequest(EMAIL_REQUIRED)
        if not isinstance(password, str):
            raise InvalidRequest("password is required")
        self.hasher.check_length(password)
        self.hasher.check_policy(password, username=display)
        mail: NormalizedEmail | None = None if email is None else normalize_email(email)
        granted = parse_scope(scopes) if scopes is not None else None
        if granted is None:
            granted = frozenset(parse_scope(self.default_scopes) or ())
        ip = client.ip if client is not None else None
        try:
            await self.throttle.hit_registration(ip)
        except RateLimited:
            await self.failure_audit.record("registration_throttled", now=self.clock.now(), ip=ip)
            raise
        async with self.db.read() as tx:
            taken = await tx.users.key_taken(key)
            mail_taken = mail is not None and await tx.users.email_taken(mail.key)
        if taken:
            raise UsernameTaken("this username is taken")
        if mail_taken:
            raise UsernameTaken("this email address is taken")
        password_hash = await self.hasher.hash(password)
        now = self.clock.now()
        user = User(
            id=new_id(),
            username=display,
            email=mail.display if mail is not None else None,
            scopes=granted,
            disabled=False,
            created_at=now,
            tokens_valid_after=0.0,
        )
        async with self.db.write() as tx:  # the unique index settles a race: UsernameTaken
            await tx.users.insert(
                user,
                username_key=key,
                password_hash=password_hash,
                email_key=mail.key if mail is not None else None,
            )
            await audit(tx, "user_registered", now=now, user_id=user.id, ip=ip)
            if mail is not None and self.email_hooks is not None:
                await self.email_hooks.queue_verification(tx, user, mail)
        if mail is not None and self.email_hooks is not None:
            self.email_hooks.wake()  # committed: the outbox worker may send it now
        return user

    async def get_user(self, user_id: str) -> User:
        async with self.db.read() as tx:
            user = await tx.users.get(user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def get_user_by_username(self, username: str) -> User:
        try:
            _, key = normalize_username(username)
        except InvalidRequest as exc:
            raise NotFound("no such user") from exc
        async with self.db.read() as tx:
            user = await tx.users.by_key(key)
        if user is None:
            raise NotFound("no such user")
        return user

    async def list_users(self) -> list[User]:
        async with self.db.read() as tx:
            return await tx.users.list()

    async def set_scopes(self, user_id: str, scopes: Iterable[str]) -> User:
        """Replace the user's allowed scopes.

        Removing a scope takes effect at once (SECURITY.md A.4 #33): the user is cut
        off like ``users disable`` without the disable, so no access token or session
        that carries the removed scope outlives the change, and the next sign-in gets
        the narrower set. Only adding scopes ends nothing: a session keeps what it was
        granted, and a new sign-in may ask for more. The row is locked first, so a
        racing refresh either committed before (its session is ended) or fails its
        credential-version check after. Audited as ``user_scopes_changed`` when the set changes.

        Raises:
            NotFound: no such user.
        """
        granted = parse_scope(scopes) or frozenset()
        now = self.clock.now()
        events: list[RevocationEvent] = []
        async with self.db.write() as tx:
            record = await tx.users.lock(user_id)
            if record is None:
                raise NotFound("no such user")
            held = frozenset(record.scopes.split())
            await tx.users.set_scopes(user_id, scope_text(granted))
            removed = held - granted
            if removed:
                events = await self.endings.cut_off_user(
                    tx, user_id, reason="scopes_narrowed", disable=False, now=now
                )
            if granted != held:
                await audit(
                    tx,
                    "user_scopes_changed",
                    now=now,
                    user_id=user_id,
                    added=sorted(granted - held),
                    removed=sorted(removed),
                    cut_off=bool(removed),
                )
        await self.sync.emit(events)
        return await self.get_user(user_id)

    async def logout_all(self, user_id: str, *, client: ClientInfo | None = None) -> None:
        """End every session and token of the user (A.4 #33, A.7 #48)."""
        await self._cut_off(
            user_id,
            reason="logout_all",
            event="logout_all",
            disable=False,
            ip=client.ip if client is not None else None,
        )

    async def disable_user(self, user_id: str) -> None:
        """Disable the user and end every session and token (A.4 #33, A.7 #48)."""
        await self._cut_off(user_id, reason="disabled", event="user_disabled", disable=True)

    async def _cut_off(
        self, user_id: str, *, reason: str, event: str, disable: bool, ip: str | None = None
    ) -> None:
        now = self.clock.now()
        async with self.db.write() as tx:
            events = await self.endings.cut_off_user(
                tx, user_id, reason=reason, disable=disable, now=now
            )
            await audit(tx, event, now=now, user_id=user_id, ip=ip)
        await self.sync.emit(events)

    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        async with self.db.read() as tx:
            return await tx.sessions.active(user_id, self.clock.now())

    async def end_session(self, user_id: str, session_id: str) -> None:
        now = self.clock.now()
        async with self.db.write() as tx:
            events = await self.endings.end_sessions(
                tx, user_id=user_id, only=session_id, reason="ended", active_only=True
            )
            if events:
                await audit(tx, "session_ended", now=now, user_id=user_id, session_id=session_id)
        if not events:
            raise NotFound("no such active session")
        await self.sync.emit(events)
