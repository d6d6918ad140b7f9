"""Signing keys: created on first open, sealed at rest, rotated, shared by instances.

Rotation (SECURITY.md A.6 #43, RFC 7517 key rollover practice): each rotation
promotes the key published as *next* by the previous rotation (so verifiers have
had it in the JWKS) — or a fresh one the first time — publishes a new next key, and
keeps the old active key verify-only until ``now + access_token_ttl + leeway``.
Other instances reload the ring when the revocation log carries a ``keys`` event.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authgate.clock import Clock
from authgate.errors import ConfigError
from authgate.settings import Settings
from authgate.store import keys as rows
from authgate.store import revocations as log
from authgate.store.errors import store_errors
from authgate.store.kek import KeyEncryptionKey, load_or_create_kek
from authgate.store.url import READ_ONLY
from authgate.tokens import KeyRing, KeyState, generate_key, hmac_key, load_pem
from authgate.tokens.keys import HMAC_ALGORITHMS, Key

__all__ = ["KeyStore", "load_kek"]


def load_kek(settings: Settings) -> KeyEncryptionKey:
    if settings.key_encryption_key is not None:
        return KeyEncryptionKey.from_text(settings.key_encryption_key.get_secret_value())
    path = settings.key_encryption_key_file or settings.data_dir / "kek.key"
    return load_or_create_kek(path)


def initial_key(settings: Settings) -> Key:
    """The first active key: the PEM file, the HMAC secret, or a fresh key.

    Raises:
        UnsafeKey: the configured key material is weak or does not match the algorithm.
        ConfigError: the key file cannot be read.
    """
    alg = settings.signing_algorithm
    if settings.signing_key_file is not None:
        try:
            data = settings.signing_key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read signing_key_file: {exc.strerror}") from exc
        return load_pem(data, alg=alg)
    if alg in HMAC_ALGORITHMS and settings.secret_key is not None:
        return hmac_key(settings.secret_key.get_secret_value(), alg)
    return generate_key(alg)


class KeyStore:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, kek: KeyEncryptionKey, clock: Clock
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.kek = kek
        self.clock = clock

    @property
    def retire_after(self) -> float:
        return self.settings.access_token_ttl + self.settings.leeway

    async def bootstrap(self, conn: AsyncConnection) -> None:
        """Create the active key if the database has none (runs under the migration lock)."""
        if await rows.load_ring(conn, self.kek) is None:
            key = initial_key(self.settings)
            await rows.insert_key(conn, self.kek, key, KeyState.ACTIVE, now=self.clock.now())

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

    async def rotate(self) -> tuple[KeyRing, str]:
        """Promote next (or a fresh key), publish a new next, retire expired keys."""
        now = self.clock.now()
        with store_errors():
            async with self.engine.begin() as conn:
                ring = await rows.load_ring(conn, self.kek)
                if ring is None:
                    raise ConfigError("no signing keys in the database")
                old = ring.active
                nxt = next((m.key for m in ring.entries() if m.state is KeyState.NEXT), None)
                if nxt is None:
                    nxt = generate_key(old.alg)
                    ring.publish_next(nxt)
                    await rows.insert_key(conn, self.kek, nxt, KeyState.NEXT, now=now)
                ring.promote_next(now=now, retire_after=self.retire_after)
                await rows.set_key_state(conn, old.kid, KeyState.RETIRING, now + self.retire_after)
                await rows.set_key_state(conn, nxt.kid, KeyState.ACTIVE, None)
                following = generate_key(old.alg)
                ring.publish_next(following)
                await rows.insert_key(conn, self.kek, following, KeyState.NEXT, now=now)
                await rows.delete_keys(conn, ring.retire_expired(now))
                await log.append(conn, "keys", nxt.kid, now, now + 3600.0, now)
        return ring, nxt.kid
