"""Map driver failures to :class:`~authgate.errors.StoreUnavailable`.

No SQLAlchemy, asyncpg, aiosqlite or Redis exception crosses the store boundary.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from authgate.errors import StoreUnavailable

__all__ = ["store_errors"]

_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    sqlite3.Error,
    OSError,
    ConnectionError,
    TimeoutError,
)
try:  # asyncpg raises its own errors before SQLAlchemy wraps some of them
    import asyncpg  # type: ignore[import-untyped]

    _DRIVER_ERRORS += (asyncpg.PostgresError, asyncpg.InterfaceError)
except ImportError:  # pragma: no cover - asyncpg is a dependency
    pass


@contextmanager
def store_errors(what: str = "the database") -> Iterator[None]:
    """Re-raise any driver or connection failure as StoreUnavailable."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise StoreUnavailable(f"{what} is unavailable ({type(exc).__name__})") from exc
