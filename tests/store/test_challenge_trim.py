"""Unused sign-in challenges are capped on both backends: ``trim`` keeps the newest,
never the one just put, and leaves other purposes alone (SECURITY.md A.7 #53)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authgate.store.database import Database
from authgate.store.kek import KeyEncryptionKey
from service._pg import empty_database

NOW = 1_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path / 'db' / 'authgate.db'}"
    else:
        url = request.getfixturevalue("private_postgres")
        empty_database(url)
    database = Database(url, kek=KeyEncryptionKey(os.urandom(32)))
    await database.migrate()
    yield database
    await database.aclose()


@pytest.mark.anyio
async def test_trim_keeps_the_newest_login_challenges_and_spares_the_new_one(
    db: Database,
) -> None:
    digests = [bytes([i]) * 32 for i in range(12)]
    async with db.write() as tx:
        for i, d in enumerate(digests):  # the later, the newer
            await tx.challenges.put(d, user_id=None, purpose="login", expires_at=NOW + i)
        await tx.challenges.put(b"r" * 32, user_id="u1", purpose="register", expires_at=NOW)
    oldest = digests[0]
    async with db.write() as tx:
        assert await tx.challenges.trim("login", keep=3, spare=oldest) == 8
    async with db.write() as tx:
        for d in [*digests[9:], oldest]:
            assert (await tx.challenges.take(d, purpose="login", now=NOW - 1))[0]
        for d in digests[1:9]:
            assert not (await tx.challenges.take(d, purpose="login", now=NOW - 1))[0]
        assert (await tx.challenges.take(b"r" * 32, purpose="register", now=NOW - 1))[0]
    async with db.write() as tx:  # nothing over the cap: nothing to do
        assert await tx.challenges.trim("login", keep=3, spare=oldest) == 0
