"""Two auth servers (two uvicorn instances, one PostgreSQL database): the same right
TOTP code, or the same recovery code, sent to both at once completes one login."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from mfa.conftest import MfaServer, enrolled_user, mfa_grant, mfa_token
from service._pg import fresh_database

pytestmark = pytest.mark.anyio


@pytest.fixture
def two_servers(
    start_mfa_server: object, postgres_url: str
) -> Iterator[tuple[MfaServer, MfaServer]]:
    kek = secrets.token_urlsafe(32)  # both instances open the same sealed secrets
    with fresh_database() as url:
        first: MfaServer = start_mfa_server(url, key_encryption_key=kek)  # type: ignore[operator]
        second: MfaServer = start_mfa_server(url, key_encryption_key=kek)  # type: ignore[operator]
        second.clock.set(first.clock.now())
        yield first, second


async def test_one_code_sent_to_two_instances_at_once_completes_one_login(
    two_servers: tuple[MfaServer, MfaServer],
) -> None:
    a, b = two_servers
    async with a.client() as ca, b.client() as cb:
        user = await enrolled_user(a, ca, "alice")
        b.clock.set(a.clock.now())
        code = a.code(user.secret)
        tokens = [await mfa_token(ca, "alice"), await mfa_token(cb, "alice")]
        answers = await asyncio.gather(
            mfa_grant(ca, tokens[0], otp=code), mfa_grant(cb, tokens[1], otp=code)
        )
        assert [r.status_code for r in answers].count(200) == 1, [r.text for r in answers]
        recovery = user.recovery_codes[0]
        tokens = [await mfa_token(ca, "alice"), await mfa_token(cb, "alice")]
        answers = await asyncio.gather(
            mfa_grant(ca, tokens[0], recovery_code=recovery),
            mfa_grant(cb, tokens[1], recovery_code=recovery),
        )
        assert [r.status_code for r in answers].count(200) == 1, [r.text for r in answers]
