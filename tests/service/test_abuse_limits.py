"""Every password check is throttled and audited, not only login's: the
current-password check of a password change, sign-ups per IP, failed refreshes,
and all of it while Redis is down (SECURITY.md A.5 #38, A.6 #45)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from authgate.clock import FrozenClock
from authgate.errors import InvalidCredentials, InvalidGrant, RateLimited
from authgate.service import AuthService, ClientInfo
from authgate.settings import Settings, ThrottleSettings
from authgate.store.schema import audit_events
from service.conftest import OTHER_PASSWORD, PASSWORD

CLIENT = ClientInfo(ip="192.0.2.44", user_agent="pytest")
NEW_PASSWORD = "amber-thistle-gondola-19"
CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens: connection refused at once


async def events(service: AuthService, name: str) -> list[tuple[str | None, str | None, str]]:
    async with service.db.engine.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.user_id, audit_events.c.ip, audit_events.c.detail)
            .where(audit_events.c.event == name)
            .order_by(audit_events.c.id)
        )
        return [(r.user_id, r.ip, r.detail) for r in rows]


@pytest.fixture
async def throttled(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> AuthService:
    settings = make_settings(
        throttle=ThrottleSettings(max_failures=3, window=600, registrations_per_ip_per_hour=2)
    )
    service: AuthService = await make_service(settings)
    return service


@pytest.mark.anyio
async def test_wrong_current_password_is_throttled_like_a_login(throttled: AuthService) -> None:
    user = await throttled.register("hana", PASSWORD)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await throttled.change_password(user.id, OTHER_PASSWORD, NEW_PASSWORD, client=CLIENT)
    # The right password no longer helps: no verification is run while blocked.
    with pytest.raises(RateLimited):
        await throttled.change_password(user.id, PASSWORD, NEW_PASSWORD, client=CLIENT)
    # One account throttle for both doors: login is blocked too.
    with pytest.raises(RateLimited):
        await throttled.login("hana", PASSWORD, scope=None, client=CLIENT)
    failed = await events(throttled, "password_change_failed")
    assert [(uid, ip) for uid, ip, _ in failed] == [(user.id, CLIENT.ip)] * 4
    assert [detail for *_, detail in failed][-1] == '{"reason":"throttled"}'
    assert all(PASSWORD not in d and OTHER_PASSWORD not in d for *_, d in failed)


@pytest.mark.anyio
async def test_password_change_is_throttled_without_a_client_ip(
    throttled: AuthService,
) -> None:
    """Even a caller that passes no client (an older web layer) gets the account limit."""
    user = await throttled.register("ines", PASSWORD)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await throttled.change_password(user.id, OTHER_PASSWORD, NEW_PASSWORD)
    with pytest.raises(RateLimited):
        await throttled.change_password(user.id, PASSWORD, NEW_PASSWORD)


@pytest.mark.anyio
async def test_failed_password_changes_from_one_ip_count_toward_its_limit(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(throttle=ThrottleSettings(max_failures=50, per_ip_max_failures=2))
    service: AuthService = await make_service(settings)
    user = await service.register("jade", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await service.change_password(user.id, OTHER_PASSWORD, NEW_PASSWORD, client=CLIENT)
    with pytest.raises(RateLimited):  # the address, not the account, is blocked
        await service.login("someone-else", PASSWORD, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_right_current_password_still_changes_it(throttled: AuthService) -> None:
    user = await throttled.register("kira", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await throttled.change_password(user.id, OTHER_PASSWORD, NEW_PASSWORD, client=CLIENT)
    await throttled.change_password(user.id, PASSWORD, NEW_PASSWORD, client=CLIENT)
    await throttled.login("kira", NEW_PASSWORD, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_registrations_from_one_ip_are_limited(
    throttled: AuthService, clock: FrozenClock
) -> None:
    await throttled.register("lena", PASSWORD, client=CLIENT)
    await throttled.register("mona", PASSWORD, client=CLIENT)
    with pytest.raises(RateLimited) as caught:
        await throttled.register("nora", PASSWORD, client=CLIENT)
    assert 1 <= caught.value.retry_after <= 3600
    await throttled.register("nora", PASSWORD, client=ClientInfo(ip="198.51.100.2"))
    await throttled.register("olga", PASSWORD)  # no client (the CLI): not limited
    assert [ip for _, ip, _ in await events(throttled, "registration_throttled")] == [CLIENT.ip]
    clock.advance(caught.value.retry_after)
    await throttled.register("petra", PASSWORD, client=CLIENT)


@pytest.mark.anyio
async def test_failed_refresh_is_audited(service: AuthService) -> None:
    await service.register("quinn", PASSWORD)
    pair = await service.login("quinn", PASSWORD, scope=None, client=CLIENT)
    await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    with pytest.raises(InvalidGrant):  # inside the grace window: refused, session lives
        await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    with pytest.raises(InvalidGrant):
        await service.refresh("x" * 43, scope=None, client=CLIENT)
    failed = await events(service, "refresh_failed")
    assert [ip for _, ip, _ in failed] == [CLIENT.ip] * 2
    assert all(pair.refresh_token not in detail for *_, detail in failed)


@pytest.mark.anyio
async def test_login_is_served_and_throttled_while_redis_is_down(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        redis_url=CLOSED_PORT, throttle=ThrottleSettings(max_failures=2, window=600)
    )
    service: AuthService = await make_service(settings)
    await service.register("rosa", PASSWORD)
    await service.login("rosa", PASSWORD, scope=None, client=CLIENT)  # not a 503
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await service.login("rosa", OTHER_PASSWORD, scope=None, client=CLIENT)
    with pytest.raises(RateLimited):  # not unlimited either
        await service.login("rosa", PASSWORD, scope=None, client=CLIENT)
