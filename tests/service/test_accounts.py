"""User administration: lookups, scopes, email, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from authgate.errors import InvalidGrant, InvalidRequest, InvalidScope, NotFound
from authgate.service import AuthService, ClientInfo
from authgate.settings import Settings
from service.conftest import PASSWORD

CLIENT = ClientInfo(ip="192.0.2.9")


@pytest.mark.anyio
async def test_users_are_listed_looked_up_and_missing_ones_are_not_found(
    service: AuthService,
) -> None:
    ann = await service.register("ann", PASSWORD, email="ann@example.com")
    assert ann.email == "ann@example.com"
    assert [u.username for u in await service.list_users()] == ["ann"]
    assert (await service.get_user(ann.id)).username == "ann"
    for missing in (service.get_user("nope"), service.get_user_by_username("bad name")):
        with pytest.raises(NotFound):
            await missing
    for call in (
        service.set_scopes("nope", ["read"]),
        service.disable_user("nope"),
        service.logout_all("nope"),
    ):
        with pytest.raises(NotFound):
            await call


@pytest.mark.anyio
@pytest.mark.parametrize("email", ["no-at-sign", "a b@example.com", "x" * 400 + "@e.com"])
async def test_bad_emails_are_invalid_requests(service: AuthService, email: str) -> None:
    with pytest.raises(InvalidRequest):
        await service.register("bea", PASSWORD, email=email)


@pytest.mark.anyio
async def test_new_users_get_default_scopes_and_malformed_scopes_are_refused(
    make_service: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(default_scopes=["read"])
    service: AuthService = await make_service(settings)
    cat = await service.register("cat", PASSWORD)
    assert cat.scopes == frozenset({"read"})
    with pytest.raises(InvalidScope):
        await service.register("dan", PASSWORD, scopes=['bad"scope'])


@pytest.mark.anyio
async def test_removing_a_scope_ends_the_sessions_and_adding_one_ends_nothing(
    service: AuthService,
) -> None:
    eve = await service.register("eve", PASSWORD, scopes=["read", "write"])
    pair = await service.login("eve", PASSWORD, scope=None, client=CLIENT)
    assert pair.scope == frozenset({"read", "write"})
    widened = await service.set_scopes(eve.id, ["read", "write", "admin"])
    assert widened.scopes == frozenset({"read", "write", "admin"})
    kept = await service.refresh(pair.refresh_token, scope=None, client=CLIENT)
    assert kept.scope == frozenset({"read", "write"})  # a session keeps what it was granted
    assert (await service.introspect(kept.access_token))["active"] is True

    updated = await service.set_scopes(eve.id, ["read", "admin"])
    assert updated.scopes == frozenset({"read", "admin"})
    with pytest.raises(InvalidGrant):
        await service.refresh(kept.refresh_token, scope=None, client=CLIENT)
    assert (await service.introspect(kept.access_token)) == {"active": False}
    again = await service.login("eve", PASSWORD, scope=None, client=CLIENT)
    assert again.scope == frozenset({"read", "admin"})
