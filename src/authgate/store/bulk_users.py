"""Bulk reads and writes of the ``users`` table for ``authgate users import`` and
``export`` (implements :class:`authgate.store.protocols.BulkUsers`).

One multi-row ``INSERT ... ON CONFLICT (username_key) DO NOTHING`` (or ``DO UPDATE``
with ``--update``) per batch, in the caller's transaction, ``RETURNING`` the rows it
wrote: so a re-run skips what exists, and a batch commits whole or not at all.
``stored`` reads what ``--update`` is about to overwrite, in the same transaction (its
rows locked on PostgreSQL), so the service compares the records with what they replace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import ImportedUser, StoredAccount
from authgate.errors import UsernameTaken
from authgate.store.schema import users

__all__ = ["SqlBulkUsers"]

#: Columns ``--update`` overwrites (never ``id``: it is the JWT ``sub``).
_UPDATED = (
    "username",
    "email",
    "email_key",
    "email_verified",
    "disabled",
    "scopes",
    "password_hash",
    "imported_hash_mac",
)
_STORED = (
    users.c.id,
    users.c.username_key,
    users.c.email_key,
    users.c.disabled,
    users.c.scopes,
    users.c.password_hash,
    users.c.imported_hash_mac,
)
_EXPORTED = (
    users.c.username,
    users.c.email,
    users.c.email_verified,
    users.c.disabled,
    users.c.scopes,
    users.c.created_at,
    users.c.password_hash,
)


class SqlBulkUsers:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def insert_many(self, rows: Sequence[ImportedUser], *, update: bool) -> tuple[int, int]:
        """Insert ``rows`` (distinct username keys); existing keys are skipped, or
        updated when ``update``. Returns (inserted, updated).

        Raises:
            UsernameTaken: another account has a row's address (the unique index).
        """
        if not rows:
            return 0, 0
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt: Any = dialect.insert(users)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=[users.c.username_key],
                set_={name: stmt.excluded[name] for name in _UPDATED},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[users.c.username_key])
        params = [
            {
                "id": row.id,
                "username": row.username,
                "username_key": row.username_key,
                "email": row.email,
                "email_key": row.email_key,
                "email_verified": row.email_verified,
                "disabled": row.disabled,
                "scopes": row.scopes,
                "created_at": row.created_at,
                "password_hash": row.password_hash,
                "imported_hash_mac": row.hash_mac,
                "tokens_valid_after": 0.0,
                "credential_version": 0,
            }
            for row in rows
        ]
        try:
            result = await self._conn.execute(stmt.returning(users.c.id), params)
        except IntegrityError as exc:  # ``ux_users_email_key``: a registration won a race
            raise UsernameTaken("an email address of the batch was taken meanwhile") from exc
        written = result.scalars().all()
        new_ids = {row.id for row in rows}
        inserted = sum(1 for found in written if found in new_ids)
        return inserted, len(written) - inserted

    async def _plan_for_now(self) -> None:
        """Plan this transaction's lookups for the table as it is now (PostgreSQL).

        asyncpg prepares each statement once per connection, and PostgreSQL may keep
        a generic plan for it: one made by an import's first batches, while the table
        was nearly empty, is a sequential scan, and with every batch's ``IN`` list of
        a thousand keys it turned a million-record import quadratic (BENCHMARKS.md,
        "User import"). ``SET LOCAL`` lasts until the batch's transaction ends."""
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def email_owners(self, email_keys: Iterable[str]) -> dict[str, str]:
        """email key -> username key of the accounts that have one of ``email_keys``."""
        wanted = list(email_keys)
        if not wanted:
            return {}
        await self._plan_for_now()
        stmt = select(users.c.email_key, users.c.username_key).where(users.c.email_key.in_(wanted))
        return {row.email_key: row.username_key for row in await self._conn.execute(stmt)}

    async def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are taken (for ``--dry-run``)."""
        await self._plan_for_now()
        stmt = select(users.c.username_key).where(users.c.username_key.in_(list(keys)))
        return set((await self._conn.execute(stmt)).scalars().all())

    async def stored(self, keys: Iterable[str]) -> dict[str, StoredAccount]:
        """username key -> the stored account, for those of ``keys`` that exist. On
        PostgreSQL the rows stay locked (``FOR UPDATE``, in key order, so two imports
        never deadlock) until the transaction ends: what is compared is what the
        upsert overwrites, whatever a password change or a disable does meanwhile."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        await self._plan_for_now()
        stmt = select(*_STORED).where(users.c.username_key.in_(wanted))
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.order_by(users.c.username_key).with_for_update()
        return {
            row.username_key: StoredAccount(
                id=row.id,
                username_key=row.username_key,
                email_key=row.email_key,
                disabled=bool(row.disabled),
                scopes=row.scopes,
                password_hash=row.password_hash,
                hash_mac=row.imported_hash_mac,
            )
            for row in await self._conn.execute(stmt)
        }

    async def foreign_hashes(self, own_prefix: str, *, batch: int = 1000) -> AsyncIterator[str]:
        """Every stored hash not written by authgate's current parameters (imported
        ones still awaiting their user's next login), streamed."""
        stmt = select(users.c.password_hash).where(
            users.c.password_hash.not_like(own_prefix + "%")  # no LIKE wildcard in it
        )
        result = await self._conn.stream(stmt.execution_options(yield_per=batch))
        async for row in result:
            yield row.password_hash

    async def stream(self, *, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every user, oldest first, read with a server-side cursor in ``batch`` rows."""
        stmt = select(*_EXPORTED).order_by(users.c.created_at, users.c.id)
        result = await self._conn.stream(stmt.execution_options(yield_per=batch))
        async for row in result.mappings():
            yield dict(row)
