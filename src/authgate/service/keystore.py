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

Every change runs under ``Transaction.keys.lock()`` and appends a ``keys``
event to the revocation log, so the other instances reload their rings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from authgate.clock import Clock
from authgate.domain import RevocationEvent
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
from authgate.store.kek import KeyEncryptionKey, load_or_create_kek
from authgate.store.keys import read_stored_states
from authgate.store.protocols import Store, Transaction
from authgate.tokens import KeyRing, KeyState, generate_key

__all__ = ["PROPAGATION", "KeyChange", "KeyStore", "check_kek", "deployment_kek", "load_kek"]

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


async def deployment_kek(settings: Settings, *, create: bool) -> KeyEncryptionKey | None:
    """The deployment's KEK for a command that writes beside the server (``users
    import``), never a new one that would not match the server's: the configured one,
    or the file the server created. Only a fresh deployment (no KEK anywhere, no
    signing key in the database) gets the file created here, as ``serve``'s first
    start would, and only when ``create`` (a dry run writes nothing: None).

    Raises:
        ConfigError: the database holds signing keys, but no KEK is here (the command
            runs without the server's ``AUTHGATE_KEY_ENCRYPTION_KEY`` or data dir).
    """
    path = settings.key_encryption_key_file or settings.data_dir / "kek.key"
    if settings.key_encryption_key is not None or path.exists():
        return load_kek(settings)
    if await read_stored_states(settings.resolved_database_url()):
        raise ConfigError(
            f"no key-encryption key here ({path} is missing and AUTHGATE_KEY_ENCRYPTION_KEY "
            "is unset), but the database has signing keys: run this with the server's "
            "settings"
        )
    return load_kek(settings) if create else None


async def check_kek(db: Store) -> None:
    """Open the stored signing keys with ``db``'s KEK (nothing stored: nothing to check).

    Raises:
        UnsafeKey: the KEK does not open them (another deployment's key).
    """
    async with db.read() as tx:
        await tx.keys.load_ring()


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What one key operation did: the ring after it, and what to audit."""

    ring: KeyRing
    kid: str
    event: str
    detail: dict[str, Any] = field(default_factory=dict)


class KeyStore:
    def __init__(self, db: Store, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
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

    async def bootstrap(self, tx: Transaction) -> None:
        """Create the first key, or install the configured one (under the migration lock).

        Raises:
            UnsafeKey: the configured key was retired as compromised, or is unusable.
        """
        keys = tx.keys
        await keys.lock()
        now = self.clock.now()
        configured = configured_key(self.settings)
        ring = await keys.load_ring()
        if ring is None:
            key = configured
            if key is None:
                key = generate_key(self.settings.signing_algorithm)
            if key.kid in await keys.retired_kids():
                raise UnsafeKey(tombstone_message(self.settings, key.kid))
            await keys.insert(key, KeyState.ACTIVE, now=now)
            return
        if configured is None:
            return
        if ring.active.kid == configured.kid:
            # A next key left by a rotation before the key was configured would be
            # promoted over it: withdraw it (it never signed).
            if ring.next is not None:
                await keys.delete([ring.next.key.kid])
                await tx.log.append([_keys_event(ring.next.key.kid, now)], now)
            return
        if configured.kid in await keys.retired_kids():
            raise UnsafeKey(tombstone_message(self.settings, configured.kid))
        old = ring.active
        dropped = ring.install(configured, now=now, retire_after=self.retire_after)
        await keys.save_ring(ring, now=now)
        await keys.tombstone(dropped, now=now)
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
        await self._record(tx, change, now)
        self.replaced = change
        _log.warning(
            replacement_message(
                self.settings, configured.kid, old.kid, retired_now=old.kid in dropped
            )
        )

    async def load(self) -> KeyRing:
        async with self.db.read() as tx:
            ring = await tx.keys.load_ring()
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
        async with self.db.write() as tx:
            ring = await self._locked_ring(tx)
            nxt = ring.next
            if nxt is None:
                key = generate_key(ring.active.alg)
                ring.publish_next(key, now=now)
                await tx.keys.insert(key, KeyState.NEXT, now=now)
                change = KeyChange(ring, key.kid, "key_published", {"kid": key.kid})
            else:
                change = KeyChange(ring, nxt.key.kid, "key_published", {"kid": nxt.key.kid})
            if at_once:
                change = await self._promote(tx, ring, now, event="key_rotated")
            elif nxt is None:
                await self._record(tx, change, now)
        return change

    async def promote_due(self) -> KeyChange | None:
        """Promote the next key once it has been published for :attr:`publish_delay`
        (the maintenance pass); None when none is due."""
        if is_configured(self.settings):
            return None  # the configured key signs; bootstrap withdrew any next key
        now = self.clock.now()
        async with self.db.write() as tx:
            ring = await self._locked_ring(tx)
            if ring.due_next(now=now, delay=self.publish_delay) is None:
                return None
            return await self._promote(tx, ring, now, event="key_promoted")

    async def retire(self, kid: str, *, at_once: bool) -> KeyChange:
        """Stop verifying with ``kid``: at once (``at_once``, the emergency after a leak),
        else once the tokens it signed have expired. A next key is withdrawn.

        Raises:
            NotFound: no such key.
            UnsafeKey: ``kid`` is the active key.
        """
        now = self.clock.now()
        async with self.db.write() as tx:
            ring = await self._locked_ring(tx)
            managed = next((m for m in ring.entries() if m.key.kid == kid), None)
            if managed is None:
                gone = kid in await tx.keys.retired_kids()
                raise NotFound(f"key {kid!r} is already retired" if gone else f"no key {kid!r}")
            if managed.state is KeyState.ACTIVE:
                raise UnsafeKey(
                    f"{kid} is the active key: rotate (or replace the configured key) first"
                )
            if at_once:
                ring.remove(kid)
                await tx.keys.tombstone([kid], now=now)
            elif managed.state is KeyState.NEXT:
                ring.remove(kid)
                await tx.keys.delete([kid])
            else:
                soon = now + self.retire_after
                managed.retire_at = min(managed.retire_at or soon, soon)
                await tx.keys.set_state(kid, managed.state, managed.retire_at)
            change = KeyChange(ring, kid, "key_retired", {"kid": kid, "at_once": at_once})
            await self._record(tx, change, now)
        return change

    async def _locked_ring(self, tx: Transaction) -> KeyRing:
        await tx.keys.lock()
        ring = await tx.keys.load_ring()
        if ring is None:
            raise ConfigError("no signing keys in the database")
        return ring

    async def _promote(
        self, tx: Transaction, ring: KeyRing, now: float, *, event: str
    ) -> KeyChange:
        old = ring.active.kid
        key = ring.promote_next(now=now, retire_after=self.retire_after)
        await tx.keys.save_ring(ring, now=now)
        await tx.keys.delete(ring.retire_expired(now))
        change = KeyChange(ring, key.kid, event, {"kid": key.kid, "old_kid": old})
        await self._record(tx, change, now)
        return change

    async def _record(self, tx: Transaction, change: KeyChange, now: float) -> None:
        """The ``keys`` event (other instances reload) and the audit row, in the change's
        transaction."""
        await tx.log.append([_keys_event(change.kid, now)], now)
        await audit(tx, change.event, now=now, **change.detail)


def _keys_event(kid: str, now: float) -> RevocationEvent:
    return RevocationEvent("keys", kid, now, now + _EVENT_TTL)
