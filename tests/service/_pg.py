"""A private PostgreSQL database per test session (the server's ``test`` database is
shared with other suites), emptied before each test that uses it."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

POSTGRES_URL = os.environ.get(
    "AUTHGATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
TABLES = (
    "audit_events, email_outbox, email_tokens, revocations, refresh_tokens, sessions, "
    "signing_keys, users, apis, clients, assertion_jtis"
)


def _require_postgres() -> None:
    """Skip locally, fail in CI (as tests/conftest.py's ``postgres_url`` does)."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return
    except OSError:
        pass
    reason = "PostgreSQL is not reachable on 127.0.0.1:5432"
    if os.environ.get("AUTHGATE_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and AUTHGATE_TEST_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(f"{reason}; start it to run this test")


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.users') IS NOT NULL")
        if exists:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on a loop of its own, in a thread: callers may be inside a loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database, dropped afterwards."""
    _require_postgres()
    name = "authgate_svc_" + secrets.token_hex(6)
    _run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[str]:
    """The URL of a fresh database, dropped at the end of the session."""
    with fresh_database() as url:
        yield url


def drop_database(url: str) -> None:
    """Drop the database behind ``url`` now, cutting its open connections."""
    name = make_url(url).database
    _run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def empty_database(url: str) -> None:
    _run(_truncate(url))
