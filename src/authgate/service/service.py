"""``AuthService``: the framework-free auth service, and ``open_service`` to build one.

It implements :class:`authgate.service.protocol.AuthServiceProtocol`. Operations live
in :mod:`.sessions` (login, refresh, logout, revoke) and :mod:`.accounts` (users,
password change, sessions admin); revocation state in :mod:`.revocation` and
:mod:`.sync`; signing keys in :mod:`.keystore`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, or_, select, text

from authgate.clock import Clock, SystemClock
from authgate.errors import AuthError, TokenError
from authgate.passwords import PasswordHasher
from authgate.service._core import hash_refresh_token
from authgate.service.accounts import AccountOps
from authgate.service.keystore import KeyChange, KeyStore, load_kek
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.revocation import KIND_KEYS, RevocationEvent, RevocationState
from authgate.service.sessions import SessionOps
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle, key_prefix_for
from authgate.service.users import scope_text
from authgate.settings import Settings
from authgate.store import revocations as log
from authgate.store.fanout import RedisFanout, channel_for
from authgate.store.migrate import upgrade
from authgate.store.schema import refresh_tokens, sessions, users
from authgate.store.statements import TOKEN_BY_HASH
from authgate.store.url import create_engine, create_sqlite_thread_engine, normalize_url
from authgate.tokens import MAX_TOKEN_LENGTH, TokenCodec, VerifiedToken, VerifiedTokenCache

__all__ = ["AuthService", "open_service"]

_log = logging.getLogger("authgate.service")


class AuthService(SessionOps, AccountOps):
    """See :class:`~authgate.service.protocol.AuthServiceProtocol` for the contract."""

    async def verify_access_token(self, token: str) -> VerifiedToken:
        """Signature, claims and the in-memory revocation check: no I/O."""
        return self.codec.verify(token)

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: ``{"active": false}`` for anything not currently valid."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return {"active": False}
        try:
            verified = self.codec.verify(token)
        except TokenError:
            return await self._introspect_refresh(token)
        async with self._read() as conn:
            username = (
                await conn.execute(select(users.c.username).where(users.c.id == verified.sub))
            ).scalar()
        if username is None:
            return {"active": False}
        claims = verified.claims
        answer: dict[str, Any] = {
            "active": True,
            "scope": scope_text(verified.scope),
            "client_id": verified.client_id,
            "username": username,
            "token_type": "Bearer",
            "exp": claims["exp"],
            "iat": claims["iat"],
            "sub": verified.sub,
            "aud": claims["aud"],
            "iss": claims["iss"],
            "jti": verified.jti,
        }
        if verified.sid is not None:
            answer["sid"] = verified.sid
        return answer

    async def _introspect_refresh(self, token: str) -> dict[str, Any]:
        digest = hash_refresh_token(token)
        if digest is None:
            return {"active": False}
        async with self._read() as conn:
            row = (await conn.execute(TOKEN_BY_HASH, {"hash": digest})).first()
        now = self.clock.now()
        if (
            row is None
            or row.used_at is not None
            or row.ended_at is not None
            or row.disabled
            or now >= row.idle_expires_at
            or now >= row.absolute_expires_at
        ):
            return {"active": False}
        return {
            "active": True,
            "scope": scope_text(frozenset(row.scope.split()) & frozenset(row.user_scopes.split())),
            "client_id": self.settings.client_id,
            "username": row.username,
            "token_type": "refresh_token",
            "exp": int(min(row.idle_expires_at, row.absolute_expires_at)),
            "iat": int(row.issued_at),
            "sub": row.user_id,
            "aud": self.settings.audience,
            "iss": self.settings.issuer,
            "sid": row.session_id,
        }

    async def rotate_keys(self, *, now: bool = False) -> str:
        """Publish a next key (promoted by maintenance after the JWK Set max-age), or
        with ``now`` promote at once; returns its kid (SECURITY.md A.7 #49)."""
        async with self._keys_lock:
            return await self._key_changed(await self.keystore.rotate(at_once=now))

    async def retire_key(self, kid: str, *, now: bool = False) -> None:
        """Stop verifying with ``kid``: at once with ``now`` (after a leak), else once
        the tokens it signed have expired (SECURITY.md A.7 #49)."""
        async with self._keys_lock:
            await self._key_changed(await self.keystore.retire(kid, at_once=now))

    async def promote_due_keys(self) -> None:
        """Maintenance: promote a next key published for at least the JWK Set max-age.
        The in-memory ring answers first, so a pass with nothing due costs no I/O."""
        if self.keyring.due_next(now=self.clock.now(), delay=self.keystore.publish_delay):
            async with self._keys_lock:
                change = await self.keystore.promote_due()
                if change is not None:
                    await self._key_changed(change)

    async def _key_changed(self, change: KeyChange) -> str:
        """Sign with the changed ring here, and tell the other instances to reload."""
        now = self.clock.now()
        change.ring.retire_expired(now)
        self._install_ring(change.ring)
        await self.sync.emit([RevocationEvent(KIND_KEYS, change.kid, now, now + 3600.0)])
        return change.kid

    async def reload_keys(self) -> None:
        """Pick up keys rotated by another instance. Under the same lock as this
        instance's own key changes: a reload that read the database before a change
        committed here must not install its older ring after the change's."""
        async with self._keys_lock:
            self._install_ring(await self.keystore.load())

    async def maintenance(self) -> None:
        """Purge what can no longer matter: expired revocations (memory and DB),
        retired keys, and refresh tokens of ended or expired sessions."""
        now = self.clock.now()
        self.revocation.purge(now, self.horizon)
        self.keyring.retire_expired(now)
        await self.promote_due_keys()
        async with self._write() as conn:
            await log.purge_expired(conn, now)
            dead = select(sessions.c.id).where(
                or_(sessions.c.ended_at.is_not(None), sessions.c.absolute_expires_at <= now)
            )
            await conn.execute(delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(dead)))
        await self.failure_audit.maintenance(now)  # A.7 #53: summaries, retention

    async def ready(self) -> bool:
        try:
            async with self._read() as conn:
                await conn.execute(text("SELECT 1"))
        except AuthError:
            return False
        return True

    async def aclose(self) -> None:
        await self._flush_failure_audit()
        await self.sync.aclose()
        if self.sync.fanout is not None:
            await self.sync.fanout.aclose()
        await self.throttle.aclose()
        self.hasher.close()
        await self.engine.dispose()
        if self.thread_engine is not None:
            self.thread_engine.dispose()

    async def _flush_failure_audit(self) -> None:
        """SECURITY.md A.7 #53: the counts of open windows are written before closing."""
        try:
            await self.failure_audit.flush(self.clock.now(), everything=True)
        except AuthError as exc:
            _log.warning("audit summaries not written at close: %s", exc)


_check: type[AuthServiceProtocol] = AuthService


async def open_service(settings: Settings, *, clock: Clock | None = None) -> AuthService:
    """Open the database (creating and migrating it), load keys and revocations, and
    start the revocation sync tasks. Close with ``await service.aclose()``.

    Raises:
        ConfigError: a bad database URL or key-encryption key.
        UnsafeKey: weak or mismatched signing key material.
        StoreUnavailable: the database cannot be reached.
    """
    clock = clock or SystemClock()
    url = normalize_url(settings.resolved_database_url())
    kek = load_kek(settings)
    engine = create_engine(url)
    thread_engine = create_sqlite_thread_engine(url)
    fanout = (
        RedisFanout(settings.redis_url, channel=channel_for(settings.redis_namespace))
        if settings.redis_url
        else None
    )
    throttle: LoginThrottle | None = None
    try:
        keystore = KeyStore(engine, settings, kek, clock)
        await upgrade(engine, bootstrap=keystore.bootstrap)
        ring = await keystore.load()
        state = RevocationState()
        codec = TokenCodec(
            ring,
            issuer=settings.issuer,
            audience=settings.audience,
            clock=clock,
            leeway=settings.leeway,
            cache=VerifiedTokenCache(settings.token_cache_size),
            revocation=state,
        )
        throttle = LoginThrottle(
            settings.throttle,
            storage_uri=settings.redis_url,
            clock=clock,
            key_prefix=key_prefix_for(settings.redis_namespace),
        )
        holder: list[AuthService] = []

        async def on_keys() -> None:
            await holder[0].reload_keys()

        async def maintenance() -> None:
            await holder[0].maintenance()

        sync = RevocationSync(
            engine,
            state,
            clock=clock,
            fanout=fanout,
            on_keys=on_keys,
            maintenance=maintenance,
            maintenance_interval=settings.maintenance_interval,
        )
        service = AuthService(
            settings,
            engine=engine,
            clock=clock,
            codec=codec,
            keystore=keystore,
            hasher=PasswordHasher(settings.passwords),
            throttle=throttle,
            revocation=state,
            sync=sync,
            thread_engine=thread_engine,
        )
        holder.append(service)
        await sync.load()
        sync.start()
        if keystore.replaced is not None:  # the configured key replaced another
            await service._key_changed(keystore.replaced)
    except BaseException:
        if throttle is not None:
            await throttle.aclose()
        if fanout is not None:
            await fanout.aclose()
        await engine.dispose()
        if thread_engine is not None:
            thread_engine.dispose()
        raise
    return service
