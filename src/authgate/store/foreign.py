"""Reading another application's user table (``authgate import fastapi-users``).

fastapi-users' SQLAlchemy table (``SQLAlchemyBaseUserTable`` / ``...UUID``): ``id``
(UUID or integer), ``email``, ``hashed_password``, ``is_active``, ``is_superuser``,
``is_verified``. The table is reflected, read-only, and streamed in id order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import MetaData, Table, select
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from authgate.errors import StoreUnavailable
from authgate.store.url import create_engine, normalize_url

__all__ = ["FASTAPI_USERS_COLUMNS", "fastapi_users_rows"]

FASTAPI_USERS_COLUMNS = (
    "id",
    "email",
    "hashed_password",
    "is_active",
    "is_superuser",
    "is_verified",
)


async def fastapi_users_rows(url: str, table: str, *, batch: int = 1000) -> AsyncIterator[Any]:
    """Each row of ``table`` at ``url`` (its :data:`FASTAPI_USERS_COLUMNS`).

    Raises:
        ValueError: no such table, or a column is missing (named).
        StoreUnavailable: the database cannot be reached or read.
    """
    engine = create_engine(normalize_url(url))
    try:
        async with engine.connect() as conn:
            try:
                found = await conn.run_sync(lambda c: Table(table, MetaData(), autoload_with=c))
            except NoSuchTableError:
                raise ValueError(f"no table {table!r} in that database") from None
            missing = [name for name in FASTAPI_USERS_COLUMNS if name not in found.c]
            if missing:
                raise ValueError(f"table {table!r} has no column {missing[0]!r}")
            columns = [found.c[name] for name in FASTAPI_USERS_COLUMNS]
            stmt = select(*columns).order_by(found.c.id).execution_options(yield_per=batch)
            result = await conn.stream(stmt)
            async for row in result:
                yield row
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"cannot read {table!r}: {type(exc).__name__}") from None
    finally:
        await engine.dispose()
