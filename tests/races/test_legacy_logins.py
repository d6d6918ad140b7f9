"""Imported password hashes over HTTP (SECURITY.md A.7 #54): a user whose hash was
made by Django, Werkzeug, passlib, bcrypt or argon2-cffi signs in through
``POST /auth/token`` with the original password and is stored as authgate's
Argon2id from that login on; a wrong password or a tampered hash is refused and
costs one verification at the stored hash's own cost, the same as the right one;
a burst of logins never loses the new hash."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from authgate.service import AuthService
from authgate.settings import ThrottleSettings
from authgate.store.schema import users
from passwords.legacy_hashes import MAKERS
from passwords.test_legacy_hashes import tamper
from races.conftest import PASSWORD, WRONG_PASSWORD, RaceServer, ServerFactory, login, register

OWN = re.compile(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$")
LIMIT = ThrottleSettings(max_failures=50, registrations_per_ip_per_hour=1000)
PBKDF2_OR_SCRYPT = [
    "django-pbkdf2_sha256",
    "werkzeug-pbkdf2:sha256",
    "werkzeug-scrypt",
    "passlib-pbkdf2_sha256",
]


def set_hash(server: RaceServer, user_id: str, stored: str) -> None:
    async def job(service: AuthService) -> None:
        async with service.db.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=stored)
            )

    server.call(job)


def stored_hash(server: RaceServer, user_id: str) -> str:
    async def job(service: AuthService) -> str:
        async with service.db.engine.connect() as conn:
            found: str = (
                await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))
            ).scalar_one()
            return found

    return server.call(job)


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(MAKERS))
async def test_a_foreign_hash_signs_in_over_http_and_is_stored_as_argon2id(
    name: str, start_server: ServerFactory
) -> None:
    server = start_server(throttle=LIMIT)
    legacy = MAKERS[name](PASSWORD)
    async with server.client() as client:
        user_id = await register(client, "migrated")
        set_hash(server, user_id, tamper(legacy))
        refused = await login(client, "migrated", PASSWORD)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        set_hash(server, user_id, legacy)
        wrong = await login(client, "migrated", WRONG_PASSWORD)
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_grant"
        assert stored_hash(server, user_id) == legacy
        ok = await login(client, "migrated", PASSWORD)
        assert ok.status_code == 200, ok.text
        assert ok.json()["access_token"]
        upgraded = stored_hash(server, user_id)
        assert OWN.match(upgraded), upgraded
        # From now on an ordinary Argon2id account.
        assert (await login(client, "migrated", PASSWORD)).status_code == 200
        assert stored_hash(server, user_id) == upgraded


@pytest.mark.anyio
@pytest.mark.parametrize("name", PBKDF2_OR_SCRYPT)
async def test_a_wrong_password_on_a_legacy_account_costs_one_verification_at_its_own_cost(
    name: str, start_server: ServerFactory
) -> None:
    server = start_server(throttle=LIMIT)
    async with server.client() as client:
        user_id = await register(client, "legacy")
        set_hash(server, user_id, MAKERS[name](PASSWORD))
        hasher = server.hasher
        # An unknown user: one Argon2id verification (the dummy), no legacy one.
        before = (hasher.verifies, hasher.legacy_verifies)
        assert (await login(client, "nobody-here", WRONG_PASSWORD)).status_code == 400
        assert (hasher.verifies, hasher.legacy_verifies) == (before[0] + 1, before[1])
        # The legacy account, wrong password: exactly one verification, the legacy
        # one at the stored parameters; no early exit, no second hash.
        before = (hasher.verifies, hasher.legacy_verifies)
        assert (await login(client, "legacy", WRONG_PASSWORD)).status_code == 400
        assert (hasher.verifies, hasher.legacy_verifies) == (before[0] + 1, before[1] + 1)
        # The right password: the same one verification (then the Argon2id hash to store).
        before = (hasher.verifies, hasher.legacy_verifies)
        assert (await login(client, "legacy", PASSWORD)).status_code == 200
        assert (hasher.verifies, hasher.legacy_verifies) == (before[0] + 1, before[1] + 1)


@pytest.mark.anyio
async def test_a_burst_of_logins_on_a_legacy_account_never_loses_the_new_hash(
    start_server: ServerFactory, database_url: str
) -> None:
    server = start_server(throttle=LIMIT, database_url=database_url)
    async with server.client() as client:
        user_id = await register(client, "burst-legacy")
        set_hash(server, user_id, MAKERS["passlib-pbkdf2_sha256"](PASSWORD))
        answers = await asyncio.gather(*[login(client, "burst-legacy") for _ in range(12)])
        codes = [r.status_code for r in answers]
        # One verification per account in flight (the throttle's lease): the others
        # wait, then answer 429 or 200; none fails and none is a 500.
        assert set(codes) <= {200, 429}, codes
        assert 200 in codes
        upgraded = stored_hash(server, user_id)
        assert OWN.match(upgraded), upgraded
        assert (await login(client, "burst-legacy")).status_code == 200


@pytest.mark.anyio
async def test_unknown_usernames_spread_over_the_imported_accounts_cost_profiles(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server(database_url=url, throttle=LIMIT)
    async with first.client() as client:
        user_id = await register(client, "imported")
    set_hash(first, user_id, MAKERS["django-pbkdf2_sha256"](PASSWORD))
    # Another instance (or a restart) on that database knows the imported cost
    # profile from the start, before that user ever signs in.
    second = start_server(database_url=url, throttle=LIMIT)
    hasher = second.hasher
    spent: dict[str, tuple[int, int]] = {}
    async with second.client() as client:
        for name in [f"nobody-{i}" for i in range(24)] * 2:
            before = (hasher.verifies, hasher.legacy_verifies)
            assert (await login(client, name, WRONG_PASSWORD)).status_code == 400
            cost = (hasher.verifies - before[0], hasher.legacy_verifies - before[1])
            assert spent.setdefault(name, cost) == cost  # a name always costs the same
    # One verification each; some names cost the imported accounts' PBKDF2, the
    # others an Argon2id verify: no time band is the existing accounts' alone.
    assert {verifies for verifies, _ in spent.values()} == {1}
    legacy = sum(legacy for _, legacy in spent.values())
    assert 0 < legacy < len(spent)
