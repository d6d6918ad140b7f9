"""The store's repositories on both backends (a SQLite file and PostgreSQL), through
:class:`Database` and the Protocols the service types against (ARCHITECTURE.md)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authgate.domain import ClientInfo, RefreshRecord, RevocationEvent, User
from authgate.errors import InvalidGrant, UsernameTaken
from authgate.store.database import Database
from authgate.store.kek import KeyEncryptionKey
from authgate.store.protocols import Store
from authgate.tokens import KeyState, generate_key
from service._pg import empty_database

NOW = 1_000_000.0
CLIENT = ClientInfo(ip="192.0.2.1", user_agent="test")


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'authgate.db'}"
        (tmp_path / "db").mkdir()
    else:
        url = request.getfixturevalue("private_postgres")
        empty_database(url)
    database = Database(url, kek=KeyEncryptionKey(os.urandom(32)))
    await database.migrate()
    yield database
    await database.aclose()


def _user(user_id: str, name: str) -> User:
    return User(
        id=user_id,
        username=name,
        email=None,
        scopes=frozenset({"read", "write"}),
        disabled=False,
        created_at=NOW,
        tokens_valid_after=0.0,
    )


async def _add_user(db: Store, user_id: str = "u1", name: str = "bob") -> None:
    async with db.write() as tx:
        await tx.users.insert(_user(user_id, name), username_key=name, password_hash="h")


async def _open(db: Store, sid: str, digest: bytes, *, version: int = 0) -> bool:
    async with db.read() as tx:
        record = await tx.users.get_record("u1")
    assert record is not None
    if version != record.credential_version:
        record = dataclasses.replace(record, credential_version=version)
    found = record
    return await db.run_write(
        lambda w: w.open_session(
            found,
            sid=sid,
            digest=digest,
            scope="read write",
            new_hash=None,
            now=NOW,
            idle_expires_at=NOW + 100,
            absolute_expires_at=NOW + 1000,
            client=CLIENT,
            audit_detail={},
        )
    )


def _grant(token: RefreshRecord) -> frozenset[str]:
    return frozenset(token.scope.split())


@pytest.mark.anyio
async def test_users_round_trip_and_a_duplicate_key_is_username_taken(db: Database) -> None:
    await _add_user(db)
    async with db.read() as tx:
        assert (await tx.users.get("u1")) == _user("u1", "bob")
        assert (await tx.users.by_key("bob")) == _user("u1", "bob")
        assert await tx.users.key_taken("bob")
        assert not await tx.users.key_taken("alice")
        assert await tx.users.username("u1") == "bob"
        assert await tx.users.get("nobody") is None
    with pytest.raises(UsernameTaken):
        await _add_user(db, "u2", "bob")
    async with db.read() as tx:
        assert [u.id for u in await tx.users.list()] == ["u1"]


@pytest.mark.anyio
async def test_credential_version_bumps_and_a_stale_password_change_writes_nothing(
    db: Database,
) -> None:
    await _add_user(db)
    async with db.write() as tx:
        assert await tx.users.bump_version("u1", NOW, disable=False) == 1
        assert await tx.users.bump_version("nobody", NOW, disable=False) is None
        assert not await tx.users.set_password("u1", version=0, password_hash="x", now=NOW)
        assert await tx.users.set_password("u1", version=1, password_hash="new", now=NOW)
    async with db.read() as tx:
        record = await tx.users.get_record("u1")
    assert record is not None
    assert (record.credential_version, record.password_hash) == (2, "new")


@pytest.mark.anyio
async def test_a_login_at_a_stale_credential_version_opens_no_session(db: Database) -> None:
    await _add_user(db)
    async with db.write() as tx:
        await tx.users.bump_version("u1", NOW, disable=False)
    assert not await _open(db, "s1", b"a" * 32, version=0)
    assert await _open(db, "s2", b"b" * 32, version=1)
    async with db.read() as tx:
        assert [s.id for s in await tx.sessions.active("u1", NOW)] == ["s2"]
        assert await tx.sessions.token(b"a" * 32) is None


@pytest.mark.anyio
async def test_a_refresh_token_rotates_once_and_a_refusal_leaves_it_unused(db: Database) -> None:
    await _add_user(db)
    assert await _open(db, "s1", b"a" * 32)

    def refuse(token: RefreshRecord) -> frozenset[str]:
        raise InvalidGrant("refused")

    with pytest.raises(InvalidGrant):
        await db.run_write(
            lambda w: w.rotate(b"a" * 32, b"b" * 32, now=NOW, idle_ttl=100, ip=None, check=refuse)
        )
    token, granted = await db.run_write(
        lambda w: w.rotate(b"a" * 32, b"b" * 32, now=NOW, idle_ttl=100, ip=None, check=_grant)
    )
    assert (token.session_id, granted) == ("s1", frozenset({"read", "write"}))
    again, none = await db.run_write(
        lambda w: w.rotate(b"a" * 32, b"c" * 32, now=NOW, idle_ttl=100, ip=None, check=_grant)
    )
    assert none is None
    assert again.used_at == NOW
    with pytest.raises(InvalidGrant):
        await db.run_write(
            lambda w: w.rotate(b"z" * 32, b"d" * 32, now=NOW, idle_ttl=100, ip=None, check=_grant)
        )
    async with db.read() as tx:
        child = await tx.sessions.token(b"b" * 32)
    assert child is not None
    assert child.used_at is None


@pytest.mark.anyio
async def test_ending_sessions_and_reopening_the_kept_one(db: Database) -> None:
    await _add_user(db)
    assert await _open(db, "s1", b"a" * 32)
    assert await _open(db, "s2", b"b" * 32)
    async with db.write() as tx:
        reopen = tx.sessions.reopen
        assert await reopen("u1", "s1", "s1new", b"c" * 32, now=NOW, idle_ttl=60.0) is not None
        assert await reopen("u1", "missing", "x", b"d" * 32, now=NOW, idle_ttl=60.0) is None
        ended = await tx.sessions.end("u1", now=NOW, reason="password_changed", keep="s1new")
    assert sorted(ended) == ["s1", "s2"]
    async with db.read() as tx:
        assert [s.id for s in await tx.sessions.active("u1", NOW)] == ["s1new"]
        fresh = await tx.sessions.token(b"c" * 32)
        old = await tx.sessions.token(b"a" * 32)
    assert fresh is not None
    assert fresh.session_id == "s1new"
    assert old is not None
    assert old.session_id == "s1"
    async with db.write() as tx:
        await tx.sessions.purge_dead_tokens(NOW)
    async with db.read() as tx:
        assert await tx.sessions.token(b"b" * 32) is None
        assert await tx.sessions.token(b"a" * 32) is None  # its session ended
        assert await tx.sessions.token(b"c" * 32) is not None  # the reopened one


@pytest.mark.anyio
async def test_the_revocation_log_replays_by_seq_and_purges_expired_rows(db: Database) -> None:
    events = [
        RevocationEvent("jti", "j1", NOW, NOW + 10),
        RevocationEvent("sid", "s1", NOW, NOW + 1000),
    ]
    async with db.write() as tx:
        await tx.log.append(events, NOW)
    async with db.read() as tx:
        top = await tx.log.max_seq()
        rows = await tx.log.after(0)
        assert [e for _, e in rows] == events
        assert [e for _, e in await tx.log.after(rows[0][0])] == events[1:]
        assert top == rows[-1][0]
        assert [e for _, e in await tx.log.load_active(NOW + 20)] == events[1:]
    async with db.write() as tx:
        assert await tx.log.purge_expired(NOW + 20) == 1


@pytest.mark.anyio
async def test_audit_rows_are_listed_newest_first_and_purged_by_age(db: Database) -> None:
    await _add_user(db)
    async with db.write() as tx:
        for at, event in ((NOW, "login_ok"), (NOW + 1, "logout")):
            await tx.audit.add(event, now=at, user_id="u1", session_id=None, ip=None, detail={})
    async with db.read() as tx:
        assert [r.event for r in await tx.audit.events(user_key="bob")] == ["logout", "login_ok"]
    async with db.write() as tx:
        assert await tx.audit.purge_before(NOW + 1) == 1


@pytest.mark.anyio
async def test_signing_keys_are_sealed_and_retired_ones_leave_a_tombstone(db: Database) -> None:
    active, other = generate_key("EdDSA"), generate_key("EdDSA")
    async with db.write() as tx:
        await tx.keys.lock()
        assert await tx.keys.load_ring() is None
        await tx.keys.insert(active, KeyState.ACTIVE, now=NOW)
        await tx.keys.insert(other, KeyState.NEXT, now=NOW)
        await tx.keys.tombstone([other.kid], now=NOW)
    async with db.read() as tx:
        ring = await tx.keys.load_ring()
        assert ring is not None
        assert ring.active.kid == active.kid
        assert [m.key.kid for m in ring.entries()] == [active.kid]
        assert await tx.keys.retired_kids() == {other.kid}


@pytest.mark.anyio
async def test_a_failed_write_transaction_commits_nothing(db: Database) -> None:
    async def both() -> None:
        async with db.write() as tx:
            await tx.users.insert(_user("u1", "bob"), username_key="bob", password_hash="h")
            await tx.users.insert(_user("u2", "bob"), username_key="bob", password_hash="h")

    with pytest.raises(UsernameTaken):
        await both()
    async with db.read() as tx:
        assert await tx.users.list() == []
