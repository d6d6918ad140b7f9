"""Key changes on this instance: rotate, retire, promote when due, reload.

The stored keys change in :class:`~authgate.service.keystore.KeyStore`; this installs
the resulting ring in the codec and tells the other instances (a ``keys`` event in
the revocation log). Changes and reloads install rings one at a time, in the order
they read them (SECURITY.md A.7 #49).
"""

from __future__ import annotations

import asyncio

from authgate.clock import Clock
from authgate.domain import RevocationEvent
from authgate.service.keystore import KeyChange, KeyStore
from authgate.service.revocation import KIND_KEYS
from authgate.service.sync import RevocationSync
from authgate.tokens import KeyRing, TokenCodec

__all__ = ["Keys"]


class Keys:
    def __init__(
        self, keystore: KeyStore, *, codec: TokenCodec, clock: Clock, sync: RevocationSync
    ) -> None:
        self.keystore = keystore
        self.codec = codec
        self.clock = clock
        self.sync = sync
        self._lock = asyncio.Lock()

    async def rotate(self, *, now: bool = False) -> str:
        """Publish a next key (promoted by maintenance after the JWK Set max-age), or
        with ``now`` promote at once; returns its kid (SECURITY.md A.7 #49)."""
        async with self._lock:
            return await self.changed(await self.keystore.rotate(at_once=now))

    async def retire(self, kid: str, *, now: bool = False) -> None:
        """Stop verifying with ``kid``: at once with ``now`` (after a leak), else once
        the tokens it signed have expired (SECURITY.md A.7 #49)."""
        async with self._lock:
            await self.changed(await self.keystore.retire(kid, at_once=now))

    async def promote_due(self) -> None:
        """Promote a next key published for at least the JWK Set max-age. The
        in-memory ring answers first, so a pass with nothing due costs no I/O."""
        if self.codec.keys.due_next(now=self.clock.now(), delay=self.keystore.publish_delay):
            async with self._lock:
                change = await self.keystore.promote_due()
                if change is not None:
                    await self.changed(change)

    async def changed(self, change: KeyChange) -> str:
        """Sign with the changed ring here, and tell the other instances to reload."""
        now = self.clock.now()
        change.ring.retire_expired(now)
        self.install(change.ring)
        await self.sync.emit([RevocationEvent(KIND_KEYS, change.kid, now, now + 3600.0)])
        return change.kid

    async def reload(self) -> None:
        """Pick up keys changed by another instance. Under the same lock as this
        instance's own key changes: a reload that read the database before a change
        committed here must not install its older ring after the change's."""
        async with self._lock:
            self.install(await self.keystore.load())

    def install(self, ring: KeyRing) -> None:
        self.codec.keys = ring
