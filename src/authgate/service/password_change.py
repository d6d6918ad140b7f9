"""Changing a password: the current-password check behind the login throttle, then
a new hash and global invalidation (SECURITY.md A.4 #33, A.5 #38, A.6 #45, A.7 #47,
#48).

``change_password(..., current_session=sid)`` ends every session, the caller's
included, and opens a new one for the caller (same device, scope and absolute
expiry, a **new id** and a new refresh-token family): checking the current password
is a login in disguise. It returns the new session's token pair, so the caller goes
on without a surprise 401, while every token issued before the change fails: the
caller's own access token (even within the same second, by ``sid`` and ``gen``) and
its old refresh token, which a thief may hold too (SECURITY.md A.4 #33).
"""

from __future__ import annotations

from authgate.clock import Clock
from authgate.domain import ClientInfo, RevocationEvent, TokenPair
from authgate.errors import InvalidCredentials, InvalidRequest, RateLimited, Revoked
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit
from authgate.service.endings import Endings
from authgate.service.factor_rules import fits_alone, refuse_short_without_factor
from authgate.service.issuer import TokenIssuer, new_refresh_token
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle
from authgate.service.users import new_id
from authgate.store.protocols import Store

__all__ = ["PasswordChanges"]


class PasswordChanges:
    def __init__(
        self,
        db: Store,
        *,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        endings: Endings,
        sync: RevocationSync,
        issuer: TokenIssuer,
        idle_ttl: float,
    ) -> None:
        self.db = db
        self.issuer = issuer
        self.idle_ttl = idle_ttl
        self.clock = clock
        self.hasher = hasher
        self.throttle = throttle
        self.endings = endings
        self.sync = sync

    async def min_length(self, user_id: str) -> int:
        """The fewest characters a new password of ``user_id`` may have: the minimum
        :meth:`change_password` applies (NIST SP 800-63B-4 §3.1.1.2: 15 for a password
        that is the only factor, 8 with a second factor, by default: a confirmed TOTP
        factor or a passkey, the store's one definition, SECURITY.md A.7 #58)."""
        async with self.db.read() as tx:
            row = await tx.users.get_record(user_id)
        return self.hasher.min_length(second_factor=row is not None and row.second_factor)

    async def change_password(
        self,
        user_id: str,
        current_password: str,
        new_password: str,
        *,
        current_session: str | None = None,
        client: ClientInfo | None = None,
    ) -> TokenPair | None:
        """Check the current password, store the new one, end every session, and open
        a new one for ``current_session`` (module docstring).

        The current-password check is a login in disguise, so it is an attempt of
        the login throttle: same account key (the normalised username) and the
        ``client`` IP, reserved before any hashing (A.5 #38, A.7 #47, ASVS 5.0
        6.3.1). A wrong password counts as a failed login and is audited as
        ``password_change_failed`` (A.6 #45). The new password is judged first, so
        a rejected one never tells whether the current password was right.

        The user row is updated (and so locked) first, only if its credential
        version is still the one checked, and the version is bumped before the
        sessions to end are selected: a login that committed earlier is ended, and
        one that commits later sees the new version and fails (A.7 #48).

        Returns:
            The caller's new token pair; None when no ``current_session`` was given.

        Raises:
            InvalidCredentials: unknown or disabled user, or a wrong current password.
            RateLimited: too many failures for the account or the IP.
            PasswordRejected: the new password fails the policy.
            Revoked: ``current_session`` is not active (ended or expired meanwhile);
                nothing is changed.
        """
        if not isinstance(current_password, str) or not isinstance(new_password, str):
            raise InvalidRequest("passwords are required")
        self.hasher.check_length(current_password)
        self.hasher.check_length(new_password)
        async with self.db.read() as tx:
            row = await tx.users.get_record(user_id)
        needs_factor = False
        if row is not None:
            self.hasher.check_policy(
                new_password, username=row.username, second_factor=row.second_factor
            )
            needs_factor = row.second_factor and not fits_alone(self.hasher, row, new_password)
        account = row.username_key if row is not None else f"user-id:{user_id}"
        ip = client.ip if client is not None else None
        now = self.clock.now()
        try:
            attempt = await self.throttle.reserve(account, ip)
        except RateLimited:
            await self._password_change_failed(user_id, ip, now, "throttled")
            raise
        async with attempt:
            if row is None or row.disabled:
                await self.hasher.verify_dummy(current_password)
                ok, reason = False, "unknown_user" if row is None else "disabled"
            else:
                ok, _ = await self.hasher.verify(current_password, row.password_hash)
                reason = "bad_password"
            if not ok:
                await attempt.failed()
                await self._password_change_failed(user_id, ip, now, reason)
                raise InvalidCredentials("invalid username or password")
            assert row is not None
            new_hash = await self.hasher.hash(new_password)
            now = self.clock.now()
            refresh, digest = new_refresh_token()
            stored = await self._store_new_password(
                user_id,
                row.credential_version,
                new_hash,
                current_session,
                digest,
                now,
                ip,
                needs_factor=needs_factor,
            )
            if stored is None:  # another change, a disable or a logout-all came first
                await attempt.failed()
                await self._password_change_failed(user_id, ip, now, "credentials_changed")
                raise InvalidCredentials("invalid username or password")
            await attempt.succeeded()
        events, kept = stored
        await self.sync.emit(events)
        if kept is None:
            return None
        sid, scope, amr = kept
        allowed = frozenset(row.scopes.split())
        return self.issuer.pair(
            user_id, sid, scope & allowed, refresh, row.credential_version + 1, amr=amr
        )

    async def _store_new_password(
        self,
        user_id: str,
        version: int,
        new_hash: str,
        current_session: str | None,
        digest: bytes,
        now: float,
        ip: str | None,
        *,
        needs_factor: bool,
    ) -> tuple[list[RevocationEvent], tuple[str, frozenset[str], tuple[str, ...]] | None] | None:
        """One transaction: the new hash and version (row locked first), the
        cut-off, the caller's new session (id, scope, amr) with the refresh token
        ``digest``, every other session ended. None when the version or status moved
        since the current password was checked. A password that ``needs_factor`` is
        stored only if the account still has one, read under the row lock (SECURITY.md
        A.7 #58).

        Raises:
            Revoked: ``current_session`` is not active; the transaction rolls back.
            PasswordRejected: the second factor went meanwhile; the transaction rolls back.
        """
        async with self.db.write() as tx:
            stored = await tx.users.set_password(
                user_id, version=version, password_hash=new_hash, now=now
            )
            if not stored:
                return None
            if needs_factor:
                minimum = self.hasher.min_length(second_factor=False)
                await refuse_short_without_factor(tx, user_id, minimum=minimum)
            cut = await self.endings.cut_off(tx, user_id, version + 1, now)
            kept = None
            if current_session is not None:
                new_sid = new_id()
                scope = await tx.sessions.reopen(
                    user_id, current_session, new_sid, digest, now=now, idle_ttl=self.idle_ttl
                )
                if scope is None:
                    raise Revoked("the session has ended")
                kept = new_sid, scope, await tx.sessions.amr(new_sid)
            keep = kept[0] if kept is not None else None
            ended = await self.endings.end_sessions(
                tx, user_id=user_id, keep=keep, reason="password_changed"
            )
            await audit(tx, "password_changed", now=now, user_id=user_id, session_id=keep, ip=ip)
        return [*cut, *ended], kept

    async def _password_change_failed(
        self, user_id: str, ip: str | None, now: float, reason: str
    ) -> None:
        async with self.db.write() as tx:
            await audit(
                tx,
                "password_change_failed",
                now=now,
                user_id=user_id,
                ip=ip,
                reason=reason,
            )
