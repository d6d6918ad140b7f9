"""SECURITY.md A.7 #49 at the service level, on SQLite and PostgreSQL, with a frozen
clock: the configured key is the source of truth, a replaced HMAC secret is retired
at once, a replaced asymmetric key verifies until its tokens expire, and a rotated
key signs only after it has been in the JWK Set for the max-age."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from authgate.clock import FrozenClock
from authgate.errors import ConfigError, NotFound, UnknownKey, UnsafeKey
from authgate.service import AuthService, ClientInfo, open_service
from authgate.service.keystore import PROPAGATION
from authgate.settings import Settings
from authgate.store.schema import audit_events, signing_keys
from authgate.tokens import KeyRing, KeyState, TokenCodec, generate_key, hmac_key
from service.conftest import PASSWORD

CLIENT = ClientInfo(ip="192.0.2.7")


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def pem_file(tmp_path: Path, name: str, alg: str = "ES256") -> Path:
    path = tmp_path / name
    path.write_bytes(generate_key(alg).private_pem())
    return path


async def stored(service: AuthService) -> dict[str, tuple[str, bytes]]:
    async with service.db.engine.connect() as conn:
        rows = (await conn.execute(select(signing_keys))).all()
    return {row.kid: (row.state, bytes(row.encrypted_jwk)) for row in rows}


def forge(secret: str, settings: Settings, sub: str, clock: FrozenClock) -> str:
    """A token an attacker holding ``secret`` signs: any subject, any scope."""
    codec = TokenCodec(
        KeyRing.single(hmac_key(secret, "HS256")),
        issuer=settings.issuer,
        audience=settings.audience,
        clock=clock,
    )
    return codec.issue(sub=sub, ttl=600, client_id="authgate", scope={"admin"})[0]


@pytest.mark.anyio
async def test_replaced_hmac_secret_is_retired_at_once(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    old_secret = new_secret()
    old_settings = make_settings(signing_algorithm="HS256", secret_key=old_secret)
    a: AuthService = await make_service(old_settings)
    await a.register("hana", PASSWORD)
    pair = await a.login("hana", PASSWORD, scope=None, client=CLIENT)
    old_kid = a.keyring.active.kid
    forged = forge(old_secret, old_settings, pair.user_id, clock)
    assert (await a.verify_access_token(forged)).sub == pair.user_id  # the leak's power
    await a.aclose()

    b: AuthService = await make_service(
        make_settings(signing_algorithm="HS256", secret_key=new_secret())
    )
    assert b.keyring.active.kid != old_kid
    assert b.keyring.get(old_kid) is None
    for token in (pair.access_token, forged):
        with pytest.raises(UnknownKey):
            await b.verify_access_token(token)
    fresh = await b.refresh(pair.refresh_token, scope=None, client=CLIENT)  # DB rows
    assert (await b.verify_access_token(fresh.access_token)).kid == b.keyring.active.kid
    rows = await stored(b)
    assert rows[old_kid] == ("retired", b"")  # tombstone: no key material left
    assert [kid for kid, (state, _) in rows.items() if state == "active"] == [b.keyring.active.kid]
    # A stale configuration cannot bring the compromised secret back.
    with pytest.raises(UnsafeKey, match="retired as compromised"):
        await open_service(old_settings, clock=clock)


@pytest.mark.anyio
async def test_replaced_asymmetric_key_verifies_until_its_tokens_expire(
    make_service: Callable[..., Any],
    make_settings: Callable[..., Settings],
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    first = make_settings(signing_algorithm="ES256", signing_key_file=pem_file(tmp_path, "1.pem"))
    a: AuthService = await make_service(first)
    await a.register("ines", PASSWORD)
    old = await a.login("ines", PASSWORD, scope=None, client=CLIENT)
    old_kid = a.keyring.active.kid
    await a.aclose()
    second = make_settings(signing_algorithm="ES256", signing_key_file=pem_file(tmp_path, "2.pem"))
    b: AuthService = await make_service(second)
    assert b.keyring.active.kid != old_kid
    assert (await b.verify_access_token(old.access_token)).kid == old_kid  # verify-only
    assert old_kid in {jwk["kid"] for jwk in b.keyring.jwks()["keys"]}
    retiring = next(m for m in b.keyring.entries() if m.key.kid == old_kid)
    assert retiring.state is KeyState.RETIRING
    assert retiring.retire_at == clock.now() + b.settings.access_token_ttl + b.settings.leeway
    # The emergency path after a leak: refused at once.
    await b.retire_key(old_kid, now=True)
    with pytest.raises(UnknownKey):
        await b.verify_access_token(old.access_token)
    with pytest.raises(UnsafeKey, match="retired as compromised"):
        await open_service(first, clock=clock)


@pytest.mark.anyio
async def test_replaced_asymmetric_key_leaves_when_its_tokens_have_expired(
    make_service: Callable[..., Any],
    make_settings: Callable[..., Settings],
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    a: AuthService = await make_service(
        make_settings(signing_algorithm="ES256", signing_key_file=pem_file(tmp_path, "1.pem"))
    )
    old_kid = a.keyring.active.kid
    await a.aclose()
    b: AuthService = await make_service(
        make_settings(signing_algorithm="ES256", signing_key_file=pem_file(tmp_path, "2.pem"))
    )
    clock.advance(b.settings.access_token_ttl + b.settings.leeway)
    await b.maintenance()
    assert b.keyring.get(old_kid) is None


@pytest.mark.anyio
async def test_rotate_publishes_and_maintenance_promotes_after_the_jwks_max_age(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    a: AuthService = await make_service(make_settings(jwks_max_age=60))
    b: AuthService = await make_service(make_settings(jwks_max_age=60))
    old_kid = a.keyring.active.kid
    kid = await a.rotate_keys()
    assert a.keyring.active.kid == old_kid  # published, not signing
    await b.sync.poll_once()
    assert kid in {jwk["kid"] for jwk in b.keyring.jwks()["keys"]}  # in every JWK Set
    assert await a.rotate_keys() == kid  # rotating again keeps the published key
    clock.advance(60 + PROPAGATION - 1)
    await a.maintenance()
    await b.maintenance()
    assert (a.keyring.active.kid, b.keyring.active.kid) == (old_kid, old_kid)
    clock.advance(1)
    await b.maintenance()  # either instance: whoever's pass comes first
    await a.maintenance()
    await a.sync.poll_once()
    assert (a.keyring.active.kid, b.keyring.active.kid) == (kid, kid)
    rows = await stored(a)
    assert sorted(state for state, _ in rows.values()) == ["active", "retiring"]
    await a.register("jon", PASSWORD)
    pair = await a.login("jon", PASSWORD, scope=None, client=CLIENT)
    assert (await b.verify_access_token(pair.access_token)).kid == kid


@pytest.mark.anyio
async def test_retire_refuses_the_active_key_and_unknown_kids(service: AuthService) -> None:
    with pytest.raises(UnsafeKey, match="active key"):
        await service.retire_key(service.keyring.active.kid, now=True)
    with pytest.raises(NotFound):
        await service.retire_key("nope")
    kid = await service.rotate_keys()
    await service.retire_key(kid)  # a published next key is withdrawn
    assert service.keyring.next is None


@pytest.mark.anyio
async def test_rotate_is_refused_for_a_configured_key(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    service: AuthService = await make_service(
        make_settings(signing_algorithm="HS256", secret_key=new_secret())
    )
    with pytest.raises(ConfigError, match="AUTHGATE_SECRET_KEY"):
        await service.rotate_keys(now=True)


@pytest.mark.anyio
async def test_instances_starting_at_once_with_a_new_key_end_with_one_active_key(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    """A burst of instances opening with a new configured secret (the lock and the
    compare in ``bootstrap``): exactly one active key, the configured one, once."""
    first: AuthService = await make_service(
        make_settings(signing_algorithm="HS256", secret_key=new_secret())
    )
    old_kid = first.keyring.active.kid
    settings = make_settings(signing_algorithm="HS256", secret_key=new_secret())
    opened = await asyncio.gather(*(make_service(settings) for _ in range(6)))
    kids = {s.keyring.active.kid for s in opened}
    assert len(kids) == 1
    assert old_kid not in kids
    rows = await stored(first)
    assert [kid for kid, (state, _) in rows.items() if state == "active"] == list(kids)
    assert rows[old_kid][0] == "retired"
    async with first.db.engine.connect() as conn:
        events = (
            await conn.execute(
                select(audit_events.c.event).where(audit_events.c.event == "signing_key_replaced")
            )
        ).all()
    assert len(events) == 1
    await first.sync.poll_once()  # the running instance reloads from the log
    assert first.keyring.active.kid in kids


@pytest.mark.anyio
async def test_configuring_the_active_key_withdraws_a_published_next_key(
    make_service: Callable[..., Any],
    make_settings: Callable[..., Settings],
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """A next key left by an earlier ``keys rotate`` must not be promoted over the
    configured key by maintenance."""
    a: AuthService = await make_service(make_settings(signing_algorithm="ES256"))
    published = await a.rotate_keys()
    pem = tmp_path / "active.pem"
    pem.write_bytes(a.keyring.active.private_pem())
    b: AuthService = await make_service(
        make_settings(signing_algorithm="ES256", signing_key_file=pem)
    )
    assert b.keyring.next is None
    assert published not in await stored(b)
    clock.advance(b.keystore.publish_delay)
    await b.maintenance()
    await a.sync.poll_once()  # the other instance drops it from its JWK Set too
    assert a.keyring.get(published) is None
    assert b.keyring.active.kid == a.keyring.active.kid


@pytest.mark.anyio
async def test_a_reload_that_read_before_a_rotation_never_installs_its_older_ring(
    service: AuthService,
) -> None:
    # The poller's reload reads the keys; a rotation on this instance commits before
    # that reload installs what it read. Without ordering, the reload's older ring
    # would replace the rotated one and the server would sign with the old key.
    keystore = service.keystore
    real_load = keystore.load
    read, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> KeyRing:
        ring = await real_load()
        read.set()
        await release.wait()
        return ring

    keystore.load = slow_load  # type: ignore[method-assign]
    reload = asyncio.create_task(service.reload_keys())
    try:
        await asyncio.wait_for(read.wait(), 10)
        rotation = asyncio.create_task(service.rotate_keys(now=True))
        await asyncio.sleep(0.05)  # the rotation now waits behind the reload
        release.set()
        new_kid = await asyncio.wait_for(rotation, 10)
        await reload
    finally:
        keystore.load = real_load  # type: ignore[method-assign]
    assert service.keyring.active.kid == new_kid
    await service.register("reloader", PASSWORD)
    tokens = await service.login("reloader", PASSWORD, scope=None, client=CLIENT)
    assert (await service.verify_access_token(tokens.access_token)).kid == new_kid
