"""Password login: one error and one hash verification for every failure, legacy
hash upgrade, throttling, username normalisation (SECURITY.md A.5)."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import bcrypt
import pytest
from sqlalchemy import select, update

from authgate.clock import FrozenClock
from authgate.errors import (
    InvalidCredentials,
    InvalidRequest,
    InvalidScope,
    RateLimited,
    UsernameTaken,
)
from authgate.passwords import PasswordHasher
from authgate.service import AuthService, AuthServiceProtocol, ClientInfo
from authgate.settings import PasswordSettings, Settings, ThrottleSettings
from authgate.store.schema import audit_events, users
from service.conftest import OTHER_PASSWORD, PASSWORD

CLIENT = ClientInfo(ip="192.0.2.7", user_agent="pytest")


class CountingHasher(PasswordHasher):
    """The real hasher, counting the verifications its worker threads run."""

    def __init__(self, settings: PasswordSettings) -> None:
        super().__init__(settings)
        self.verifies = 0
        self._lock = threading.Lock()

    def _verify_argon2_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        with self._lock:
            self.verifies += 1
        return super()._verify_argon2_sync(password, stored_hash)

    def _verify_bcrypt_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        with self._lock:
            self.verifies += 1
        return super()._verify_bcrypt_sync(password, stored_hash)


def test_auth_service_satisfies_the_protocol() -> None:
    check: type[AuthServiceProtocol] = AuthService
    assert check is AuthService


@pytest.mark.anyio
async def test_login_issues_access_token_bound_to_a_new_session(service: AuthService) -> None:
    user = await service.register("alice", PASSWORD, scopes=["read", "write"])
    pair = await service.login("alice", PASSWORD, scope=None, client=CLIENT)
    verified = await service.verify_access_token(pair.access_token)
    assert verified.sub == user.id != "alice"
    assert verified.sid == pair.session_id
    assert verified.scope == frozenset({"read", "write"})
    assert verified.client_id == service.settings.client_id
    assert verified.exp - verified.iat == service.settings.access_token_ttl
    assert len(pair.refresh_token) >= 43
    [session] = await service.list_sessions(user.id)
    assert (session.ip, session.user_agent) == ("192.0.2.7", "pytest")


@pytest.mark.anyio
async def test_unknown_user_wrong_password_and_disabled_fail_alike_with_one_verify_each(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    hasher = CountingHasher(settings.passwords)
    service: AuthService = await make_service(settings, hasher=hasher)
    await service.register("bob", PASSWORD)
    disabled = await service.register("carol", PASSWORD)
    await service.disable_user(disabled.id)
    errors = []
    for username, password in (("nobody", PASSWORD), ("bob", OTHER_PASSWORD), ("carol", PASSWORD)):
        before = hasher.verifies
        with pytest.raises(InvalidCredentials) as info:
            await service.login(username, password, scope=None, client=CLIENT)
        assert hasher.verifies - before == 1, username
        errors.append((type(info.value), str(info.value), info.value.code))
    assert errors[0] == errors[1] == errors[2]


@pytest.mark.anyio
async def test_legacy_bcrypt_hash_is_replaced_by_argon2id_at_next_login(
    service: AuthService,
) -> None:
    user = await service.register("dave", PASSWORD)
    legacy = bcrypt.hashpw(OTHER_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    assert legacy.startswith("$2b$")
    async with service.db.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user.id).values(password_hash=legacy))
    await service.login("dave", OTHER_PASSWORD, scope=None, client=CLIENT)
    async with service.db.engine.connect() as conn:
        stored = (
            await conn.execute(select(users.c.password_hash).where(users.c.id == user.id))
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    await service.login("dave", OTHER_PASSWORD, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_throttled_login_is_refused_even_with_the_right_password(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(throttle=ThrottleSettings(max_failures=2, window=600))
    service: AuthService = await make_service(settings)
    await service.register("erin", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await service.login("erin", OTHER_PASSWORD, scope=None, client=CLIENT)
    with pytest.raises(RateLimited):
        await service.login("ERIN", PASSWORD, scope=None, client=CLIENT)
    async with service.db.engine.connect() as conn:
        names = (await conn.execute(select(audit_events.c.event))).scalars().all()
    assert "login_throttled" in names


@pytest.mark.anyio
async def test_throttle_holds_across_two_instances_sharing_redis(
    make_service: Callable[..., Any],
    make_settings: Callable[..., Settings],
    redis_url: str,
) -> None:
    settings = make_settings(
        redis_url=redis_url,
        # Redis outlives the test: a namespace of its own, so no earlier run's counts.
        redis_namespace="login-" + secrets.token_hex(4),
        throttle=ThrottleSettings(max_failures=2, window=600),
    )
    a: AuthService = await make_service(settings)
    b: AuthService = await make_service(settings)
    name = "frank"
    await a.register(name, PASSWORD)
    for service in (a, b):
        with pytest.raises(InvalidCredentials):
            await service.login(name, OTHER_PASSWORD, scope=None, client=CLIENT)
    with pytest.raises(RateLimited):
        await a.login(name, PASSWORD, scope=None, client=CLIENT)
    with pytest.raises(RateLimited):
        await b.login(name, PASSWORD, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_usernames_compare_after_nfkc_and_casefold(service: AuthService) -> None:
    user = await service.register("Ｇｒａｃｅ", PASSWORD)
    assert user.username == "Grace"
    with pytest.raises(UsernameTaken):
        await service.register("gRACE", PASSWORD)
    pair = await service.login("GRACE", PASSWORD, scope=None, client=CLIENT)
    assert pair.user_id == user.id
    assert (await service.get_user_by_username("grace")).id == user.id


@pytest.mark.anyio
@pytest.mark.parametrize("bad", ["", "a b", "tab\there", "nul\x00", "x" * 65, "zw\u200bsp"])
async def test_bad_usernames_are_invalid_requests(service: AuthService, bad: str) -> None:
    with pytest.raises(InvalidRequest):
        await service.register(bad, PASSWORD)


@pytest.mark.anyio
async def test_login_grants_requested_scopes_that_are_allowed(service: AuthService) -> None:
    await service.register("heidi", PASSWORD, scopes=["read", "write"])
    pair = await service.login("heidi", PASSWORD, scope="read admin", client=CLIENT)
    assert pair.scope == frozenset({"read"})
    with pytest.raises(InvalidScope):
        await service.login("heidi", PASSWORD, scope="admin", client=CLIENT)


@pytest.mark.anyio
async def test_oversized_password_is_refused_before_hashing(service: AuthService) -> None:
    with pytest.raises(InvalidRequest):
        await service.login("ivan", "x" * 1_000_000, scope=None, client=CLIENT)


@pytest.mark.anyio
async def test_audit_events_are_logged_without_tokens_or_passwords(
    service: AuthService, caplog: pytest.LogCaptureFixture, clock: FrozenClock
) -> None:
    caplog.set_level(logging.INFO, logger="authgate.audit")
    await service.register("judy", PASSWORD)
    pair = await service.login("judy", PASSWORD, scope=None, client=CLIENT)
    with pytest.raises(InvalidCredentials):
        await service.login("judy", OTHER_PASSWORD, scope=None, client=CLIENT)
    clock.advance(1)
    pair2 = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    await service.logout(await service.verify_access_token(pair2.access_token))
    events = [getattr(r, "event", None) for r in caplog.records]
    for name in ("user_registered", "login_ok", "login_failed", "refresh", "logout"):
        assert name in events
    secrets_ = (
        PASSWORD,
        OTHER_PASSWORD,
        pair.access_token,
        pair.refresh_token,
        pair2.refresh_token,
    )
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert not any(s in text for s in secrets_)
