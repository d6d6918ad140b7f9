"""The hot paths keep their statements (ARCHITECTURE.md: the prebuilt statements of
``store/statements.py``): a login is one read and one write transaction, a refresh one
write transaction (two statements on PostgreSQL). A repository layer that added a
round trip would fail here."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from authgate.service import AuthService, ClientInfo
from service.conftest import PASSWORD

CLIENT = ClientInfo(ip="192.0.2.7", user_agent="test")

EXPECTED = {
    "sqlite": {
        # BEGIN (read), USER_BY_KEY; BEGIN IMMEDIATE, LOCK_USER, session, token, audit
        "login": ["BEGIN", "SELECT", "BEGIN", "SELECT", "INSERT", "INSERT", "INSERT"],
        # BEGIN IMMEDIATE, CONSUME_REFRESH, TOKEN_BY_HASH, TOUCH_SESSION, token, audit
        "refresh": ["BEGIN", "UPDATE", "SELECT", "UPDATE", "INSERT", "INSERT"],
    },
    "postgresql": {
        "login": ["SELECT", "SELECT", "INSERT", "INSERT", "INSERT"],
        "refresh": ["UPDATE", "WITH"],  # PG_CONSUME_REFRESH, PG_ROTATE
    },
}


@pytest.mark.anyio
async def test_login_and_refresh_run_only_their_prebuilt_statements(
    service: AuthService,
) -> None:
    await service.register("alice", PASSWORD)
    db = service.db
    engines = [db.engine.sync_engine]
    if db.thread_engine is not None:
        engines.append(db.thread_engine)
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]).split()[0])

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        pair = await service.login("alice", PASSWORD, scope=None, client=CLIENT)
        login, seen[:] = list(seen), []
        await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
        refresh = list(seen)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    expected = EXPECTED[db.engine.dialect.name]
    assert login == expected["login"]
    assert refresh == expected["refresh"]
