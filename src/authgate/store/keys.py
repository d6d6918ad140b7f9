"""Signing keys at rest: private JWKs sealed with the KEK, one row per key."""

from __future__ import annotations

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.store.kek import KeyEncryptionKey
from authgate.store.schema import signing_keys
from authgate.tokens import KeyRing, KeyState, ManagedKey, load_jwk
from authgate.tokens.keys import Key

__all__ = ["delete_keys", "insert_key", "load_ring", "set_key_state"]


async def load_ring(conn: AsyncConnection, kek: KeyEncryptionKey) -> KeyRing | None:
    """The stored keys as a ring, or None when there are none yet.

    Raises:
        UnsafeKey: a row cannot be decrypted (wrong KEK) or is not a valid key.
    """
    rows = (await conn.execute(select(signing_keys))).all()
    if not rows:
        return None
    managed = []
    for row in rows:
        jwk = orjson.loads(kek.open(row.encrypted_jwk, row.kid.encode()))
        key = load_jwk(jwk, alg=row.alg)
        managed.append(ManagedKey(key, KeyState(row.state), row.retire_at))
    return KeyRing(managed)


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
