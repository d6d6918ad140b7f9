"""Refresh-token rotation, reuse detection, races and expiry (RFC 9700 §4.14.2,
SECURITY.md A.4 #24–#29)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from authgate.clock import FrozenClock
from authgate.errors import InvalidGrant, InvalidScope, RefreshReuse, Revoked
from authgate.service import AuthService, ClientInfo, TokenPair
from authgate.store.schema import audit_events, metadata, refresh_tokens, sessions
from service.conftest import PASSWORD

CLIENT = ClientInfo(ip="198.51.100.4")


async def _login(
    service: AuthService, name: str = "alice", scopes: str = "read write"
) -> TokenPair:
    await service.register(name, PASSWORD, scopes=scopes.split())
    return await service.login(name, PASSWORD, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_refresh_rotates_the_token_and_keeps_the_session(
    service: AuthService, clock: FrozenClock
) -> None:
    pair = await _login(service)
    clock.advance(60)
    pair2 = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    assert pair2.refresh_token != pair.refresh_token
    assert pair2.session_id == pair.session_id
    assert pair2.scope == pair.scope
    verified = await service.verify_access_token(pair2.access_token)
    assert verified.sid == pair.session_id
    [session] = await service.list_sessions(pair.user_id)
    assert session.last_used_at == clock.now()


@pytest.mark.anyio
async def test_reuse_within_the_grace_window_fails_without_ending_the_session(
    service: AuthService, clock: FrozenClock
) -> None:
    pair = await _login(service)
    pair2 = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    clock.advance(service.settings.sessions.reuse_grace - 1)
    with pytest.raises(InvalidGrant) as info:
        await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    assert not isinstance(info.value, RefreshReuse)
    await service.verify_access_token(pair2.access_token)
    await service.refresh(pair2.refresh_token, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_refresh_reuse_after_grace_ends_the_whole_session(
    service: AuthService, clock: FrozenClock
) -> None:
    pair = await _login(service)
    pair2 = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    clock.advance(service.settings.sessions.reuse_grace + 1)
    with pytest.raises(RefreshReuse):
        await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair2.refresh_token, scope=None, client=CLIENT)
    with pytest.raises(Revoked):
        await service.verify_access_token(pair2.access_token)
    with pytest.raises(Revoked):
        await service.verify_access_token(pair.access_token)
    assert await service.list_sessions(pair.user_id) == []
    async with service.db.engine.connect() as conn:
        events = (
            await conn.execute(
                select(audit_events.c.event, audit_events.c.session_id).where(
                    audit_events.c.event == "refresh_reuse"
                )
            )
        ).all()
    assert [tuple(e) for e in events] == [("refresh_reuse", pair.session_id)]


@pytest.mark.anyio
async def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(
    make_service: Callable[..., Any],
) -> None:
    # Two instances on one database, five callers each: separate connections and
    # engines, so only the database's compare-and-set can pick the winner.
    a: AuthService = await make_service()
    b: AuthService = await make_service()
    pair = await _login(a)
    results = await asyncio.gather(
        *(
            svc.refresh(pair.refresh_token, scope=None, client=CLIENT)
            for svc in (a, b)
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, TokenPair)]
    losers = [r for r in results if not isinstance(r, TokenPair)]
    assert len(winners) == 1
    assert len(losers) == 9
    assert all(type(e) is InvalidGrant for e in losers)
    # The grace window: the losers did not end the session.
    await a.refresh(winners[0].refresh_token, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_idle_session_expires(service: AuthService, clock: FrozenClock) -> None:
    pair = await _login(service)
    clock.advance(service.settings.sessions.idle_ttl + 1)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    assert await service.list_sessions(pair.user_id) == []


@pytest.mark.anyio
async def test_rotation_never_extends_the_absolute_expiry(
    service: AuthService, clock: FrozenClock
) -> None:
    pair = await _login(service)
    s = service.settings.sessions
    day = 86400
    steps = s.absolute_ttl // day
    for _ in range(steps - 1):  # used every day: never idle
        clock.advance(day)
        pair = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    clock.advance(day)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.refresh_token, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_refresh_may_narrow_but_never_broaden_the_scope(service: AuthService) -> None:
    pair = await _login(service, scopes="read write")
    narrow = await service.refresh(pair.refresh_token, scope="read", client=CLIENT)
    assert narrow.scope == frozenset({"read"})
    with pytest.raises(InvalidScope):
        await service.refresh(narrow.refresh_token, scope="read admin", client=CLIENT)
    # The session keeps its scope: a refresh without scope gets all of it back.
    full = await service.refresh(narrow.refresh_token, scope=None, client=CLIENT)
    assert full.scope == frozenset({"read", "write"})


@pytest.mark.anyio
@pytest.mark.parametrize("garbage", ["", "short", "x" * 5000, "é" * 43, "a.b.c"])
async def test_garbage_refresh_tokens_are_invalid_grants(
    service: AuthService, garbage: str
) -> None:
    with pytest.raises(InvalidGrant):
        await service.refresh(garbage, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_access_token_is_not_a_refresh_token(service: AuthService) -> None:
    pair = await _login(service)
    with pytest.raises(InvalidGrant):
        await service.refresh(pair.access_token, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_database_holds_only_refresh_token_hashes(service: AuthService) -> None:
    pair = await _login(service)
    pair2 = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    dump = []
    async with service.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                dump.append(repr(tuple(row)))
        hashes = set((await conn.execute(select(refresh_tokens.c.token_hash))).scalars())
    text = "\n".join(dump)
    for token in (pair.refresh_token, pair2.refresh_token):
        assert token not in text
        assert token.encode() not in text.encode()
        assert hashlib.sha256(token.encode()).digest() in hashes


@pytest.mark.anyio
async def test_session_row_records_family_metadata(
    service: AuthService, clock: FrozenClock
) -> None:
    pair = await _login(service)
    async with service.db.engine.connect() as conn:
        row = (await conn.execute(select(sessions).where(sessions.c.id == pair.session_id))).one()
    s = service.settings.sessions
    assert row.absolute_expires_at == clock.now() + s.absolute_ttl
    assert row.idle_expires_at == clock.now() + s.idle_ttl
    assert row.ip == CLIENT.ip
