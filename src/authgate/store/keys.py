"""Signing keys at rest: private JWKs sealed with the KEK, one row per key.

A key retired as compromised (SECURITY.md A.7 #49) leaves a *tombstone*: its row
keeps the kid with state ``retired`` and no key material, so no instance started
with a stale configuration can make it active again. Every change to the keys runs
under :func:`lock_keys`, so instances changing them at once are serialised.
"""

from __future__ import annotations

import orjson
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.store.errors import store_errors
from authgate.store.kek import KeyEncryptionKey
from authgate.store.migrate import current_revision
from authgate.store.schema import signing_keys
from authgate.store.url import create_engine, is_sqlite, normalize_url, sqlite_path
from authgate.tokens import KeyRing, KeyState, ManagedKey, load_jwk
from authgate.tokens.keys import Key

__all__ = [
    "RETIRED",
    "SqlKeys",
    "delete_keys",
    "insert_key",
    "load_ring",
    "lock_keys",
    "read_stored_states",
    "retired_kids",
    "save_ring",
    "set_key_state",
    "stored_states",
    "tombstone_keys",
]

#: The state of a tombstone row (never loaded into a ring).
RETIRED = "retired"
#: pg_advisory_xact_lock key for key changes: "ag-keys" as an int64.
_KEYS_LOCK = int.from_bytes(b"ag-keys", "big")


async def lock_keys(conn: AsyncConnection) -> None:
    """Serialise key changes until the transaction ends. PostgreSQL: an advisory
    transaction lock; SQLite: write transactions already start ``BEGIN IMMEDIATE``."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})


async def load_ring(conn: AsyncConnection, kek: KeyEncryptionKey) -> KeyRing | None:
    """The stored keys as a ring, or None when there are none yet.

    Raises:
        UnsafeKey: a row cannot be decrypted (wrong KEK) or is not a valid key.
    """
    stmt = select(signing_keys).where(signing_keys.c.state != RETIRED)
    rows = (await conn.execute(stmt)).all()
    if not rows:
        return None
    managed = []
    for row in rows:
        jwk = orjson.loads(kek.open(row.encrypted_jwk, row.kid.encode()))
        key = load_jwk(jwk, alg=row.alg)
        managed.append(ManagedKey(key, KeyState(row.state), row.retire_at, row.created_at))
    return KeyRing(managed)


async def stored_states(conn: AsyncConnection) -> dict[str, tuple[str, str]]:
    """Every stored kid with its (state, alg), tombstones included; no key material."""
    stmt = select(signing_keys.c.kid, signing_keys.c.state, signing_keys.c.alg)
    rows = (await conn.execute(stmt)).all()
    return {row.kid: (row.state, row.alg) for row in rows}


async def read_stored_states(url: str) -> dict[str, tuple[str, str]] | None:
    """:func:`stored_states` of the database at ``url`` without creating or migrating
    it (``authgate check``); None when it does not exist or was never migrated.

    Raises:
        ConfigError: a bad database URL.
        StoreUnavailable: the database cannot be reached.
    """
    normalized = normalize_url(url)
    path = sqlite_path(normalized)
    if is_sqlite(normalized) and (path is None or not path.exists()):
        return None
    engine = create_engine(normalized)
    try:
        if await current_revision(engine) is None:
            return None
        with store_errors():
            async with engine.connect() as conn:
                return await stored_states(conn)
    finally:
        await engine.dispose()


async def retired_kids(conn: AsyncConnection) -> set[str]:
    """The kids of keys retired as compromised (tombstones)."""
    stmt = select(signing_keys.c.kid).where(signing_keys.c.state == RETIRED)
    return set((await conn.execute(stmt)).scalars())


async def save_ring(
    conn: AsyncConnection, kek: KeyEncryptionKey, ring: KeyRing, *, now: float
) -> None:
    """Write every key of ``ring``: new keys inserted, the others' state updated."""
    stored = set((await conn.execute(select(signing_keys.c.kid))).scalars())
    for m in ring.entries():
        if m.key.kid in stored:
            await set_key_state(conn, m.key.kid, m.state, m.retire_at)
        else:
            when = m.published_at if m.published_at is not None else now
            await insert_key(conn, kek, m.key, m.state, now=when, retire_at=m.retire_at)


async def tombstone_keys(conn: AsyncConnection, kids: list[str], *, now: float) -> None:
    """Retire ``kids`` as compromised: the key material is erased, the kid is kept."""
    if kids:
        await conn.execute(
            update(signing_keys)
            .where(signing_keys.c.kid.in_(kids))
            .values(state=RETIRED, encrypted_jwk=b"", retire_at=now)
        )


async def insert_key(
    conn: AsyncConnection,
    kek: KeyEncryptionKey,
    key: Key,
    state: KeyState,
    *,
    now: float,
    retire_at: float | None = None,
) -> None:
    sealed = kek.seal(orjson.dumps(key.private_jwk()), key.kid.encode())
    await conn.execute(
        insert(signing_keys).values(
            kid=key.kid,
            alg=key.alg,
            state=state.value,
            encrypted_jwk=sealed,
            created_at=now,
            retire_at=retire_at,
        )
    )


async def set_key_state(
    conn: AsyncConnection, kid: str, state: KeyState, retire_at: float | None
) -> None:
    await conn.execute(
        update(signing_keys)
        .where(signing_keys.c.kid == kid)
        .values(state=state.value, retire_at=retire_at)
    )


async def delete_keys(conn: AsyncConnection, kids: list[str]) -> None:
    if kids:
        await conn.execute(delete(signing_keys).where(signing_keys.c.kid.in_(kids)))


class SqlKeys:
    """Implements :class:`authgate.store.protocols.KeyRepository` on one connection."""

    __slots__ = ("_conn", "_kek")

    def __init__(self, conn: AsyncConnection, kek: KeyEncryptionKey) -> None:
        self._conn = conn
        self._kek = kek

    async def lock(self) -> None:
        await lock_keys(self._conn)

    async def load_ring(self) -> KeyRing | None:
        return await load_ring(self._conn, self._kek)

    async def retired_kids(self) -> set[str]:
        return await retired_kids(self._conn)

    async def insert(self, key: Key, state: KeyState, *, now: float) -> None:
        await insert_key(self._conn, self._kek, key, state, now=now)

    async def save_ring(self, ring: KeyRing, *, now: float) -> None:
        await save_ring(self._conn, self._kek, ring, now=now)

    async def tombstone(self, kids: list[str], *, now: float) -> None:
        await tombstone_keys(self._conn, kids, now=now)

    async def set_state(self, kid: str, state: KeyState, retire_at: float | None) -> None:
        await set_key_state(self._conn, kid, state, retire_at)

    async def delete(self, kids: list[str]) -> None:
        await delete_keys(self._conn, kids)
