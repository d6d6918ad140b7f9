"""The service suite runs on both backends: a SQLite file and a private PostgreSQL
database. ``make_service`` opens more instances on the same database (restart,
two instances), all closed at the end of the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from authgate.clock import FrozenClock
from authgate.passwords import PasswordHasher
from authgate.service import AuthService, open_service
from authgate.settings import Settings
from service._pg import empty_database, private_postgres

__all__ = ["private_postgres"]

PASSWORD = "wobbly-lantern-orchid-73"
OTHER_PASSWORD = "quiet-harbour-falcon-58"

ServiceFactory = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'authgate.db'}"  # normalised to aiosqlite
    url: str = request.getfixturevalue("private_postgres")
    empty_database(url)
    return url


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "issuer": "https://auth.example.com",
            "audience": "api",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
async def make_service(
    make_settings: Callable[..., Settings], clock: FrozenClock
) -> AsyncIterator[Callable[..., Any]]:
    opened: list[AuthService] = []

    async def make(
        settings: Settings | None = None,
        *,
        clock_: FrozenClock | None = None,
        hasher: PasswordHasher | None = None,
    ) -> AuthService:
        svc = await open_service(settings or make_settings(), clock=clock_ or clock)
        if hasher is not None:
            svc.hasher.close()
            svc.hasher = hasher
        opened.append(svc)
        return svc

    yield make
    for svc in opened:
        await svc.aclose()


@pytest.fixture
async def service(make_service: Callable[..., Any]) -> AuthService:
    svc: AuthService = await make_service()
    return svc
