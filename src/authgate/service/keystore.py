"""Signing keys: created on first open, sealed at rest, changed, shared by instances.

SECURITY.md A.7 #49 (RFC 8725 §3.5, RFC 7517, NIST SP 800-57 Pt 1 §5.3):

- A configured key (``AUTHGATE_SIGNING_KEY_FILE``, or ``AUTHGATE_SECRET_KEY`` for
  HMAC) is the source of truth. At open, under the migration lock, a configured key
  that is not the active one becomes active (:meth:`KeyRing.install`): an HMAC secret
  no longer configured is retired at once as compromised (tombstone: a restart with
  it is refused), a replaced asymmetric key stays verify-only until its tokens
  expire (``access_token_ttl + leeway``).
- ``keys rotate`` (generated keys only) publishes a next key; the maintenance pass
  promotes it once it has been in the JWK Set for ``jwks_max_age`` plus the time
  other instances take to reload (:data:`PROPAGATION`), so a verifier with a cached
  JWK Set never meets an unknown kid. ``keys rotate --now`` promotes at once.
- ``keys retire KID --now`` drops a key at once (the emergency after a leak).

Every change runs under :func:`authgate.store.keys.lock_keys` and appends a ``keys``
event to the revocation log, so the other instances reload their rings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.clock import Clock
from authgate.errors import ConfigError, NotFound, UnsafeKey
from authgate.service.audit import audit
from authgate.service.keyconfig import (
    configured_key,
    configured_setting,
    is_configured,
    replacement_message,
    tombstone_message,
)
from authgate.settings import Settings
from authgate.store import keys as rows
from authgate.store import revocations as log
from authgate.store.errors import store_errors
from authgate.store.kek import KeyEncryptionKey, load_or_create_kek
from authgate.store.url import READ_ONLY
from authgate.tokens import KeyRing, KeyState, generate_key

__all__ = ["PROPAGATION", "KeyChange", "KeyStore", "load_kek"]

#: Seconds the other instances may take to show a newly published key in their JWK
#: Set (the revocation poller's backstop is 2 s): added to ``jwks_max_age``.
PROPAGATION = 5.0
_log = logging.getLogger("authgate.service")
#: How long a ``keys`` event stays in the revocation log.
_EVENT_TTL = 3600.0


def load_kek(settings: Settings) -> KeyEncryptionKey:
    if settings.key_encryption_key is not None:
        return KeyEncryptionKey.from_text(settings.key_encryption_key.get_secret_value())
    path = settings.key_encryption_key_file or settings.data_dir / "kek.key"
    return load_or_create_kek(path)


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What one key operation did: the ring after it, and what to audit."""

    ring: KeyRing
    kid: str
    event: str
    detail: dict[str, Any] = field(default_factory=dict)


class KeyStore:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, kek: KeyEncryptionKey, clock: Clock
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.kek = kek
        self.clock = clock
        #: What the last :meth:`bootstrap` changed (for the log and the fan-out).
        self.replaced: KeyChange | None = None

    @property
    def retire_after(self) -> float:
        """A replaced key verifies this long: the longest token lifetime plus leeway."""
        return self.settings.access_token_ttl + self.settings.leeway

    @property
    def publish_delay(self) -> float:
        """A published next key signs only after this long (SECURITY.md A.7 #49)."""
        return self.settings.jwks_max_age + PROPAGATION

    async def bootstrap(self, conn: AsyncConnection) -> None:
        """Create the first key, or install the configured one (under the migration lock).

        Raises:
            UnsafeKey: the configured key was retired as compromised, or is unusable.
        """
        await rows.lock_keys(conn)
        now = self.clock.now()
        configured = configured_key(self.settings)
        ring = await rows.load_ring(conn, self.kek)
        if ring is None:
            key = configured
            if key is None:
                key = generate_key(self.settings.signing_algorithm)
            if key.kid in await rows.retired_kids(conn):
                raise UnsafeKey(tombstone_message(self.settings, key.kid))
            await rows.insert_key(conn, self.kek, key, KeyState.ACTIVE, now=now)
            return
        if configured is None:
            return
        if ring.active.kid == configured.kid:
            # A next key left by a rotation before the key was configured would be
            # promoted over it: withdraw it (it never signed).
            if ring.next is not None:
                await rows.delete_keys(conn, [ring.next.key.kid])
                await log.append(conn, "keys", ring.next.key.kid, now, now + _EVENT_TTL, now)
            return
        if configured.kid in await rows.retired_kids(conn):
            raise UnsafeKey(tombstone_message(self.settings, configured.kid))
        old = ring.active
        dropped = ring.install(configured, now=now, retire_after=self.retire_after)
        await rows.save_ring(conn, self.kek, ring, now=now)
        await rows.tombstone_keys(conn, dropped, now=now)
        change = KeyChange(
            ring,
            configured.kid,
            "signing_key_replaced",
            {
                "kid": configured.kid,
                "old_kid": old.kid,
                "setting": configured_setting(self.settings),
                "retired_now": dropped,
                "verify_only_until": None if old.kid in dropped else now + self.retire_after,
            },
        )
        await self._record(conn, change, now)
        self.replaced = change
        _log.warning(
            replacement_message(
                self.settings, configured.kid, old.kid, retired_now=old.kid in dropped
            )
        )

    async def load(self) -> KeyRing:
        with store_errors():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    ring = await rows.load_ring(conn, self.kek)
        if ring is None:
            raise ConfigError("no signing keys in the database")
        ring.retire_expired(self.clock.now())
        return ring

    async def rotate(self, *, at_once: bool = False) -> KeyChange:
        """Publish a next key; with ``at_once``, promote it (or the published one) now.

        Raises:
            ConfigError: the signing key is configured (replace it there instead).
        """
        if is_configured(self.settings):
            raise ConfigError(
                f"the signing key is configured by {configured_setting(self.settings)}; "
                "replace the key there and restart (SECURITY.md A.7 #49)"
            )
        now = self.clock.now()
        with store_errors():
            async with self.engine.begin() as conn:
                ring = await self._locked_ring(conn)
                nxt = ring.next
                if nxt is None:
                    key = generate_key(ring.active.alg)
                    ring.publish_next(key, now=now)
                    await rows.insert_key(conn, self.kek, key, KeyState.NEXT, now=now)
                    change = KeyChange(ring, key.kid, "key_published", {"kid": key.kid})
                else:
                    change = KeyChange(ring, nxt.key.kid, "key_published", {"kid": nxt.key.kid})
                if at_once:
                    change = await self._promote(conn, ring, now, event="key_rotated")
                elif nxt is None:
                    await self._record(conn, change, now)
        return change

    async def promote_due(self) -> KeyChange | None:
        """Promote the next key once it has been published for :attr:`publish_delay`
        (the maintenance pass); None when none is due."""
        if is_configured(self.settings):
            return None  # the configured key signs; bootstrap withdrew any next key
        now = self.clock.now()
        with store_errors():
            async with self.engine.begin() as conn:
                ring = await self._locked_ring(conn)
                if ring.due_next(now=now, delay=self.publish_delay) is None:
                    return None
                return await self._promote(conn, ring, now, event="key_promoted")

    async def retire(self, kid: str, *, at_once: bool) -> KeyChange:
        """Stop verifying with ``kid``: at once (``at_once``, the emergency after a leak),
        else once the tokens it signed have expired. A next key is withdrawn.

        Raises:
            NotFound: no such key.
            UnsafeKey: ``kid`` is the active key.
        """
        now = self.clock.now()
        with store_errors():
            async with self.engine.begin() as conn:
                ring = await self._locked_ring(conn)
                managed = next((m for m in ring.entries() if m.key.kid == kid), None)
                if managed is None:
                    gone = kid in await rows.retired_kids(conn)
                    raise NotFound(f"key {kid!r} is already retired" if gone else f"no key {kid!r}")
                if managed.state is KeyState.ACTIVE:
                    raise UnsafeKey(
                        f"{kid} is the active key: rotate (or replace the configured key) first"
                    )
                if at_once:
                    ring.remove(kid)
                    await rows.tombstone_keys(conn, [kid], now=now)
                elif managed.state is KeyState.NEXT:
                    ring.remove(kid)
                    await rows.delete_keys(conn, [kid])
                else:
                    soon = now + self.retire_after
                    managed.retire_at = min(managed.retire_at or soon, soon)
                    await rows.set_key_state(conn, kid, managed.state, managed.retire_at)
                change = KeyChange(ring, kid, "key_retired", {"kid": kid, "at_once": at_once})
                await self._record(conn, change, now)
        return change

    async def _locked_ring(self, conn: AsyncConnection) -> KeyRing:
        await rows.lock_keys(conn)
        ring = await rows.load_ring(conn, self.kek)
        if ring is None:
            raise ConfigError("no signing keys in the database")
        return ring

    async def _promote(
        self, conn: AsyncConnection, ring: KeyRing, now: float, *, event: str
    ) -> KeyChange:
        old = ring.active.kid
        key = ring.promote_next(now=now, retire_after=self.retire_after)
        await rows.save_ring(conn, self.kek, ring, now=now)
        await rows.delete_keys(conn, ring.retire_expired(now))
        change = KeyChange(ring, key.kid, event, {"kid": key.kid, "old_kid": old})
        await self._record(conn, change, now)
        return change

    async def _record(self, conn: AsyncConnection, change: KeyChange, now: float) -> None:
        """The ``keys`` event (other instances reload) and the audit row, in the change's
        transaction."""
        await log.append(conn, "keys", change.kid, now, now + _EVENT_TTL, now)
        await audit(conn, change.event, now=now, **change.detail)
