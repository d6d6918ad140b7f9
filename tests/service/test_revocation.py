"""Logout, global sign-out, password change, RFC 7009 revocation and RFC 7662
introspection (SECURITY.md A.4 #31–#33)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import event

from authgate.clock import FrozenClock
from authgate.errors import InvalidCredentials, InvalidGrant, NotFound, Revoked
from authgate.service import AuthService, ClientInfo, TokenPair
from authgate.service.revocation import (
    KIND_GEN,
    KIND_JTI,
    KIND_SID,
    KIND_SUB,
    RevocationEvent,
    RevocationState,
)
from authgate.tokens import VerifiedToken
from service.conftest import OTHER_PASSWORD, PASSWORD

PHONE = ClientInfo(ip="203.0.113.1", user_agent="phone")
LAPTOP = ClientInfo(ip="203.0.113.2", user_agent="laptop")


async def _two_sessions(service: AuthService) -> tuple[TokenPair, TokenPair]:
    await service.register("alice", PASSWORD, scopes=["read"])
    phone = await service.login("alice", PASSWORD, scope=None, client=PHONE)
    laptop = await service.login("alice", PASSWORD, scope=None, client=LAPTOP)
    return phone, laptop


@pytest.mark.anyio
async def test_logout_denies_the_access_token_and_ends_its_session(service: AuthService) -> None:
    phone, laptop = await _two_sessions(service)
    await service.logout(await service.verify_access_token(phone.access_token))
    with pytest.raises(Revoked):
        await service.verify_access_token(phone.access_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(phone.refresh_token, scope=None, client=PHONE)
    await service.verify_access_token(laptop.access_token)
    assert [s.id for s in await service.list_sessions(phone.user_id)] == [laptop.session_id]


@pytest.mark.anyio
async def test_logout_all_revokes_every_earlier_token_even_in_the_same_second(
    service: AuthService, clock: FrozenClock
) -> None:
    phone, laptop = await _two_sessions(service)
    clock.advance(0.4)  # same integer second as the tokens' iat
    await service.logout_all(phone.user_id)
    for pair in (phone, laptop):
        with pytest.raises(Revoked):
            await service.verify_access_token(pair.access_token)
        with pytest.raises(InvalidGrant):
            await service.refresh(pair.refresh_token, scope=None, client=PHONE)
    # A new login within the same second is not caught by the cut-off.
    clock.advance(0.2)
    fresh = await service.login("alice", PASSWORD, scope=None, client=PHONE)
    await service.verify_access_token(fresh.access_token)


@pytest.mark.anyio
async def test_change_password_keeps_the_current_session_under_a_new_id(
    service: AuthService, clock: FrozenClock
) -> None:
    phone, laptop = await _two_sessions(service)
    clock.advance(0.3)
    kept = await service.change_password(
        phone.user_id, PASSWORD, OTHER_PASSWORD, current_session=phone.session_id
    )
    assert kept is not None
    assert kept.session_id not in (phone.session_id, laptop.session_id)
    assert kept.scope == phone.scope
    for pair in (phone, laptop):  # every token from before the change fails
        with pytest.raises(Revoked):
            await service.verify_access_token(pair.access_token)
        with pytest.raises(InvalidGrant):
            await service.refresh(pair.refresh_token, scope=None, client=PHONE)
    # Still the same second: the new session's tokens work.
    verified = await service.verify_access_token(kept.access_token)
    assert verified.sid == kept.session_id
    clock.advance(0.3)
    again = await service.refresh(kept.refresh_token, scope=None, client=PHONE)
    assert again.session_id == kept.session_id
    await service.verify_access_token(again.access_token)
    assert [s.id for s in await service.list_sessions(phone.user_id)] == [kept.session_id]
    with pytest.raises(InvalidCredentials):
        await service.login("alice", PASSWORD, scope=None, client=PHONE)
    await service.login("alice", OTHER_PASSWORD, scope=None, client=PHONE)


@pytest.mark.anyio
async def test_change_password_from_an_ended_session_changes_nothing(
    service: AuthService,
) -> None:
    phone, laptop = await _two_sessions(service)
    await service.end_session(phone.user_id, phone.session_id)
    with pytest.raises(Revoked):
        await service.change_password(
            phone.user_id, PASSWORD, OTHER_PASSWORD, current_session=phone.session_id
        )
    await service.verify_access_token(laptop.access_token)
    await service.login("alice", PASSWORD, scope=None, client=PHONE)


@pytest.mark.anyio
async def test_change_password_needs_the_current_password(service: AuthService) -> None:
    phone, _ = await _two_sessions(service)
    with pytest.raises(InvalidCredentials):
        await service.change_password(phone.user_id, OTHER_PASSWORD, "another-long-phrase-91")
    await service.verify_access_token(phone.access_token)


@pytest.mark.anyio
async def test_disable_user_revokes_tokens_and_blocks_login_and_refresh(
    service: AuthService,
) -> None:
    phone, _ = await _two_sessions(service)
    await service.disable_user(phone.user_id)
    assert (await service.get_user(phone.user_id)).disabled
    with pytest.raises(Revoked):
        await service.verify_access_token(phone.access_token)
    with pytest.raises(InvalidGrant):
        await service.refresh(phone.refresh_token, scope=None, client=PHONE)
    with pytest.raises(InvalidCredentials):
        await service.login("alice", PASSWORD, scope=None, client=PHONE)


@pytest.mark.anyio
@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "bogus"])
async def test_revoke_accepts_either_token_whatever_the_hint(
    service: AuthService, hint: str | None
) -> None:
    phone, laptop = await _two_sessions(service)
    await service.revoke(phone.access_token, hint)
    with pytest.raises(Revoked):
        await service.verify_access_token(phone.access_token)
    await service.refresh(phone.refresh_token, scope=None, client=PHONE)  # session lives
    await service.revoke(laptop.refresh_token, hint)
    with pytest.raises(InvalidGrant):
        await service.refresh(laptop.refresh_token, scope=None, client=LAPTOP)
    with pytest.raises(Revoked):
        await service.verify_access_token(laptop.access_token)
    for garbage in ("", "garbage", "a.b.c", "x" * 100_000, laptop.refresh_token):
        await service.revoke(garbage, hint)


@pytest.mark.anyio
async def test_introspection_answers_rfc7662(service: AuthService) -> None:
    phone, _ = await _two_sessions(service)
    access = await service.introspect(phone.access_token)
    assert access["active"] is True
    assert access["token_type"] == "Bearer"
    assert access["username"] == "alice"
    assert access["sub"] == phone.user_id
    assert access["sid"] == phone.session_id
    assert access["scope"] == "read"
    for claim in ("client_id", "exp", "iat", "aud", "iss", "jti"):
        assert claim in access
    refresh = await service.introspect(phone.refresh_token)
    assert refresh["active"] is True
    assert refresh["token_type"] == "refresh_token"
    assert refresh["sid"] == phone.session_id
    await service.logout(await service.verify_access_token(phone.access_token))
    assert await service.introspect(phone.access_token) == {"active": False}
    assert await service.introspect(phone.refresh_token) == {"active": False}
    assert await service.introspect("nonsense") == {"active": False}


@pytest.mark.anyio
async def test_end_session_only_ends_the_users_own_active_session(service: AuthService) -> None:
    phone, laptop = await _two_sessions(service)
    other = await service.register("mallory", PASSWORD)
    with pytest.raises(NotFound):
        await service.end_session(other.id, phone.session_id)
    await service.end_session(phone.user_id, phone.session_id)
    with pytest.raises(Revoked):
        await service.verify_access_token(phone.access_token)
    with pytest.raises(NotFound):
        await service.end_session(phone.user_id, phone.session_id)
    sessions = await service.list_sessions(phone.user_id)
    assert [s.id for s in sessions] == [laptop.session_id]


@pytest.mark.anyio
async def test_verification_makes_no_database_round_trip(service: AuthService) -> None:
    phone, _ = await _two_sessions(service)
    await service.logout_all(phone.user_id)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(service.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        with pytest.raises(Revoked):
            await service.verify_access_token(phone.access_token)
        fresh = await service.login("alice", PASSWORD, scope=None, client=PHONE)
        statements.clear()
        for _ in range(3):
            await service.verify_access_token(fresh.access_token)
    finally:
        event.remove(service.db.engine.sync_engine, "before_cursor_execute", count)
    assert statements == []


@pytest.mark.anyio
async def test_expired_revocations_are_purged(service: AuthService, clock: FrozenClock) -> None:
    phone, _ = await _two_sessions(service)
    await service.logout(await service.verify_access_token(phone.access_token))
    assert len(service.revocation) >= 2
    clock.advance(2 * 3600)
    await service.maintenance()
    assert len(service.revocation) == 0


def _token(iat: float, sid: str | None, jti: str = "j1") -> VerifiedToken:
    return VerifiedToken(
        sub="u1",
        jti=jti,
        iat=iat,
        exp=iat + 900,
        client_id="c",
        scope=frozenset(),
        sid=sid,
        typ="at+jwt",
        kid="k",
        claims=MappingProxyType({}),
    )


def test_subject_cut_off_handles_one_second_iat_granularity() -> None:
    state = RevocationState()
    state.apply(RevocationEvent(KIND_SUB, "u1", 1000.4, 9999.0))
    # Without a sid nothing else could catch a token issued at 1000.1: round up.
    assert state.is_revoked(_token(1000, None))
    assert not state.is_revoked(_token(1001, None))
    # With a sid, the session's own end catches 1000.1; a later login in the same
    # second (iat 1000, a session not ended) must work: round down.
    assert state.is_revoked(_token(999, "s-new"))
    assert not state.is_revoked(_token(1000, "s-new"))
    state.apply(RevocationEvent(KIND_SID, "s-old", 1000.4, 9999.0))
    assert state.is_revoked(_token(1000, "s-old"))
    state.apply(RevocationEvent(KIND_JTI, "j2", 1000.4, 9999.0))
    assert state.is_revoked(_token(2000, "s-new", jti="j2"))
    assert state.purge(10_000.0, sub_horizon=1.0) == 3
    assert not state.is_revoked(_token(0, "s-old", jti="j2"))


def _versioned(iat: float, generation: int | None, sid: str = "s-live") -> VerifiedToken:
    claims = {} if generation is None else {"gen": generation}
    return VerifiedToken(
        sub="u1",
        jti="j",
        iat=iat,
        exp=iat + 900,
        client_id="c",
        scope=frozenset(),
        sid=sid,
        typ="at+jwt",
        kid="k",
        claims=MappingProxyType(claims),
    )


def test_credential_version_cut_off_is_exact_whatever_the_iat() -> None:
    """SECURITY.md A.7 #48: the ``gen`` rule needs no rounding: a token of the old
    version dies even when issued after the cut-off's second (a login that raced it),
    one of the new version lives even when its iat is earlier (another clock)."""
    state = RevocationState()
    state.apply(RevocationEvent(KIND_SUB, "u1", 1000.4, 9999.0))
    state.apply(RevocationEvent(KIND_GEN, "u1", 3.0, 9999.0))
    assert state.is_revoked(_versioned(1001, 2))
    assert not state.is_revoked(_versioned(999, 3))
    assert state.is_revoked(_versioned(999, None))  # no gen: the iat rule still holds
    state.apply(RevocationEvent(KIND_GEN, "u1", 2.0, 9999.0))  # an older one, late
    assert state.is_revoked(_versioned(1001, 2))
    assert state.purge(10_000.0, sub_horizon=1.0) == 2


@pytest.mark.anyio
async def test_access_tokens_carry_the_credential_version_and_die_with_it(
    service: AuthService,
) -> None:
    await service.register("victor", PASSWORD)
    pair = await service.login("victor", PASSWORD, scope=None, client=PHONE)
    before = await service.verify_access_token(pair.access_token)
    assert before.claims["gen"] == 0
    await service.logout_all(pair.user_id)
    fresh = await service.login("victor", PASSWORD, scope=None, client=PHONE)
    assert (await service.verify_access_token(fresh.access_token)).claims["gen"] == 1
    refreshed = await service.refresh(fresh.refresh_token, scope=None, client=PHONE)
    assert (await service.verify_access_token(refreshed.access_token)).claims["gen"] == 1
