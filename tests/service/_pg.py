"""A private PostgreSQL database per test session (the server's ``test`` database is
shared with other suites), emptied before each test that uses it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from conftest import POSTGRES_URL, require_service
from sqlalchemy.engine import make_url

TABLES = "audit_events, revocations, refresh_tokens, sessions, signing_keys, users"


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


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[str]:
    """The URL of a fresh database, dropped at the end of the session."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    base = POSTGRES_URL
    name = "authgate_svc_" + secrets.token_hex(6)
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def empty_database(url: str) -> None:
    asyncio.run(_truncate(url))
