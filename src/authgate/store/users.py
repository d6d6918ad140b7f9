"""The ``users`` aggregate (implements :class:`authgate.store.protocols.UserRepository`).

SECURITY.md A.7 #48: every cut-off bumps ``credential_version`` with the row locked
(an ``UPDATE``), before the sessions to end are selected. A record carries
``second_factor`` (:data:`authgate.store.statements.SECOND_FACTOR`, the one
definition); :meth:`SqlUsers.lock` takes the row for a change of the account's
factors (SECURITY.md A.7 #58).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import User, UserRecord
from authgate.errors import UsernameTaken
from authgate.store.schema import users
from authgate.store.statements import SECOND_FACTOR

__all__ = ["SqlUsers", "to_record", "to_user"]


def to_user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        email=row.email,
        scopes=frozenset(row.scopes.split()),
        disabled=bool(row.disabled),
        created_at=float(row.created_at),
        tokens_valid_after=float(row.tokens_valid_after),
        email_verified=bool(row.email_verified),
    )


def to_record(row: Any) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        username_key=row.username_key,
        password_hash=row.password_hash,
        scopes=row.scopes,
        disabled=bool(row.disabled),
        credential_version=int(row.credential_version),
        second_factor=bool(row.second_factor),
        email_verified=bool(row.email_verified),
        email=row.email,
    )


class SqlUsers:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _one(self, where: Any) -> Any:
        return (await self._conn.execute(select(users, SECOND_FACTOR).where(where))).first()

    async def get(self, user_id: str) -> User | None:
        row = await self._one(users.c.id == user_id)
        return None if row is None else to_user(row)

    async def get_record(self, user_id: str) -> UserRecord | None:
        row = await self._one(users.c.id == user_id)
        return None if row is None else to_record(row)

    async def lock(self, user_id: str) -> UserRecord | None:
        """The record with the row locked until the transaction ends (PostgreSQL
        ``FOR UPDATE``, so two changes of one account's factors, or one and a password
        change, run one after the other; SQLite has one writer at a time anyway)."""
        stmt = select(users, SECOND_FACTOR).where(users.c.id == user_id).with_for_update(of=users)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else to_record(row)

    async def second_factor(self, user_id: str) -> bool:
        """Whether the account has a second factor now (SECOND_FACTOR), read in this
        transaction: after its own changes."""
        stmt = select(SECOND_FACTOR).select_from(users).where(users.c.id == user_id)
        return bool((await self._conn.execute(stmt)).scalar())

    async def by_key(self, username_key: str) -> User | None:
        row = await self._one(users.c.username_key == username_key)
        return None if row is None else to_user(row)

    async def key_taken(self, username_key: str) -> bool:
        stmt = select(users.c.id).where(users.c.username_key == username_key)
        return (await self._conn.execute(stmt)).first() is not None

    async def username(self, user_id: str) -> str | None:
        stmt = select(users.c.username).where(users.c.id == user_id)
        name: str | None = (await self._conn.execute(stmt)).scalar()
        return name

    async def list(self) -> list[User]:
        rows = (await self._conn.execute(select(users).order_by(users.c.created_at))).all()
        return [to_user(r) for r in rows]

    async def insert(
        self, user: User, *, username_key: str, password_hash: str, email_key: str | None = None
    ) -> None:
        stmt = insert(users).values(
            id=user.id,
            username=user.username,
            username_key=username_key,
            email=user.email,
            email_key=email_key,
            email_verified=user.email_verified,
            password_hash=password_hash,
            scopes=" ".join(sorted(user.scopes)),
            disabled=user.disabled,
            tokens_valid_after=user.tokens_valid_after,
            created_at=user.created_at,
        )
        try:
            await self._conn.execute(stmt)
        except IntegrityError as exc:  # the unique index: another register won a race
            raise UsernameTaken("this username or email address is taken") from exc

    async def by_email_key(self, email_key: str) -> UserRecord | None:
        row = await self._one(users.c.email_key == email_key)
        return None if row is None else to_record(row)

    async def email_taken(self, email_key: str, *, other_than: str | None = None) -> bool:
        stmt = select(users.c.id).where(users.c.email_key == email_key)
        if other_than is not None:
            stmt = stmt.where(users.c.id != other_than)
        return (await self._conn.execute(stmt)).first() is not None

    async def set_email(self, user_id: str, *, email: str, email_key: str, verified: bool) -> bool:
        """Replace the address. False for no such user.

        Raises:
            UsernameTaken: another account has this address (the unique index).
        """
        stmt = (
            update(users)
            .where(users.c.id == user_id)
            .values(email=email, email_key=email_key, email_verified=verified)
        )
        try:
            return (await self._conn.execute(stmt)).rowcount == 1
        except IntegrityError as exc:
            raise UsernameTaken("this email address is taken") from exc

    async def mark_email_verified(self, user_id: str, email_key: str) -> bool:
        """Verified only if the account still has the address the token was for."""
        stmt = (
            update(users)
            .where(users.c.id == user_id, users.c.email_key == email_key)
            .values(email_verified=True)
        )
        return (await self._conn.execute(stmt)).rowcount == 1

    async def set_scopes(self, user_id: str, scopes: str) -> bool:
        stmt = update(users).where(users.c.id == user_id).values(scopes=scopes)
        return (await self._conn.execute(stmt)).rowcount == 1

    async def bump_version(self, user_id: str, now: float, *, disable: bool) -> int | None:
        values: dict[str, Any] = {
            "tokens_valid_after": now,
            "credential_version": users.c.credential_version + 1,
        }
        if disable:
            values["disabled"] = True
        stmt = (
            update(users)
            .where(users.c.id == user_id)
            .values(**values)
            .returning(users.c.credential_version)
        )
        version = (await self._conn.execute(stmt)).scalar()
        return None if version is None else int(version)

    async def set_password(
        self, user_id: str, *, version: int, password_hash: str, now: float
    ) -> bool:
        stmt = (
            update(users)
            .where(
                users.c.id == user_id,
                users.c.credential_version == version,
                users.c.disabled.is_(False),
            )
            .values(
                password_hash=password_hash,
                tokens_valid_after=now,
                credential_version=version + 1,
            )
        )
        return (await self._conn.execute(stmt)).rowcount == 1
