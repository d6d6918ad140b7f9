"""SECURITY.md A.7 #53: failures that need no credentials add a bounded number of
audit rows (the rest counted in one summary row), and audit has a retention applied
by the maintenance pass. Time comes from the frozen clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select

from authgate.clock import FrozenClock
from authgate.errors import InvalidCredentials, InvalidGrant, RateLimited
from authgate.service import AuthService, ClientInfo
from authgate.service.audit_limit import OTHER_IPS, AuditLimiter
from authgate.settings import AuditSettings, Settings, ThrottleSettings
from authgate.store.schema import audit_events
from service.conftest import OTHER_PASSWORD, PASSWORD

ATTACKER = ClientInfo(ip="203.0.113.9", user_agent="burst")
DAY = 86_400.0


async def rows_of(service: AuthService, name: str) -> list[tuple[str | None, Any]]:
    async with service.db.engine.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.ip, audit_events.c.detail)
            .where(audit_events.c.event == name)
            .order_by(audit_events.c.id)
        )
        return [(r.ip, orjson.loads(r.detail)) for r in rows]


def counted(rows: list[tuple[str | None, dict[str, Any]]]) -> int:
    """Events recorded: one per plain row, ``suppressed`` per summary row."""
    return sum(int(d.get("suppressed", 1)) for _, d in rows)


async def garbage_refresh(service: AuthService, n: int, client: ClientInfo = ATTACKER) -> None:
    async def one(i: int) -> None:
        with pytest.raises(InvalidGrant):
            await service.refresh(f"{i:043d}", scope=None, client=client)

    await asyncio.gather(*(one(i) for i in range(n)))


@pytest.mark.anyio
async def test_garbage_refresh_burst_adds_bounded_rows_and_the_count(
    service: AuthService, clock: FrozenClock
) -> None:
    for _ in range(4):  # 1,000 in concurrent bursts of 250
        await garbage_refresh(service, 250)
    written = await rows_of(service, "refresh_failed")
    limit = service.settings.audit.rows_per_ip
    assert len(written) == limit
    assert all(ip == ATTACKER.ip and "suppressed" not in d for ip, d in written)
    await service.maintenance()  # the window is still open: nothing to summarise yet
    assert len(await rows_of(service, "refresh_failed")) == limit
    clock.advance(service.settings.audit.window)
    await service.maintenance()
    written = await rows_of(service, "refresh_failed")
    assert len(written) == limit + 1
    ip, summary = written[-1]
    assert ip == ATTACKER.ip
    assert summary["suppressed"] == 1000 - limit
    assert summary["by_ip"] == {ATTACKER.ip: 1000 - limit}
    assert counted(written) == 1000


@pytest.mark.anyio
async def test_open_window_counts_are_written_when_the_service_closes(
    make_service: Callable[..., Any],
) -> None:
    first: AuthService = await make_service()
    await garbage_refresh(first, 40)
    await first.aclose()  # flushes the open window
    again: AuthService = await make_service()
    assert counted(await rows_of(again, "refresh_failed")) == 40


@pytest.mark.anyio
async def test_many_ips_cannot_exceed_the_per_event_bound(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    audit = AuditSettings(rows_per_ip=2, rows_per_event=10, max_tracked_ips=8)
    service: AuthService = await make_service(make_settings(audit=audit))
    await asyncio.gather(
        *(garbage_refresh(service, 3, ClientInfo(ip=f"198.51.100.{i}")) for i in range(30))
    )
    clock.advance(audit.window)
    await service.maintenance()
    written = await rows_of(service, "refresh_failed")
    assert len(written) == 10 + 1
    summary = written[-1][1]
    assert summary["suppressed"] == 90 - 10
    assert OTHER_IPS in summary["by_ip"]
    assert written[-1][0] is None  # many IPs: the summary names none
    assert counted(written) == 90


@pytest.mark.anyio
async def test_throttled_logins_are_bounded_and_counted(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    settings = make_settings(throttle=ThrottleSettings(max_failures=1, window=600))
    service: AuthService = await make_service(settings)
    await service.register("tara", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await service.login("tara", OTHER_PASSWORD, scope=None, client=ATTACKER)

    async def throttled() -> None:
        with pytest.raises(RateLimited):
            await service.login("tara", PASSWORD, scope=None, client=ATTACKER)

    await asyncio.gather(*(throttled() for _ in range(60)))
    clock.advance(settings.audit.window)
    await service.maintenance()
    written = await rows_of(service, "login_throttled")
    assert len(written) == settings.audit.rows_per_ip + 1
    assert counted(written) == 60


@pytest.mark.anyio
async def test_rows_older_than_the_retention_are_purged_by_maintenance(
    service: AuthService, clock: FrozenClock
) -> None:
    now = clock.now()
    days = service.settings.audit.retention_days
    ages = {"ancient": days * DAY + 1, "edge": days * DAY - 1, "recent": 60.0}
    async with service.db.engine.begin() as conn:
        for name, age in ages.items():
            await conn.execute(
                insert(audit_events).values(at=now - age, event="login_failed", detail=f'"{name}"')
            )
    await service.maintenance()
    left: set[object] = {d for _, d in await rows_of(service, "login_failed")}
    assert left == {"edge", "recent"}
    clock.advance(2.0)
    await service.maintenance()
    left = {d for _, d in await rows_of(service, "login_failed")}
    assert left == {"recent"}


def test_limiter_windows_are_fixed_and_per_event() -> None:
    limiter = AuditLimiter(AuditSettings(window=60, rows_per_ip=2, rows_per_event=100))
    t = 1_000.0
    assert [limiter.admit("refresh_failed", "a", t)[0] for _ in range(3)] == [True, True, False]
    assert limiter.admit("login_throttled", "a", t)[0]  # another event, its own budget
    assert limiter.due(t + 59.9) == []
    keep, due = limiter.admit("refresh_failed", "a", t + 60)
    assert keep
    assert [(s.event, s.ip, s.detail["suppressed"]) for s in due] == [("refresh_failed", "a", 1)]
    assert limiter.drain() == []  # nothing suppressed in the open windows
