"""A real auth server (uvicorn on loopback, SQLite, a frozen clock) that sends its
mail to a real SMTP server (aiosmtpd, STARTTLS and AUTH required)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.service import AuthService, AuthServiceProtocol
from authgate.settings import EmailSettings, Settings, ThrottleSettings
from authgate.testing import test_settings
from recovery._smtp import TestSmtp
from server.conftest import PASSWORD, LiveServer, serve
from service._pg import fresh_database

ISSUER = "http://auth.test"


def email_settings(smtp: TestSmtp, **overrides: Any) -> EmailSettings:
    values: dict[str, Any] = {
        "smtp_url": smtp.url,
        "ca_file": smtp.cert,
        "sender": "authgate@auth.test",
        "poll_interval": 0.1,
        "requests_per_ip_per_hour": 10_000,
        "requests_per_hour": 50,
    }
    values.update(overrides)
    return EmailSettings(**values)


def recovery_settings(data_dir: Path, smtp: TestSmtp, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "email": email_settings(smtp),
        "throttle": ThrottleSettings(registrations_per_ip_per_hour=10_000),
        # No purge pass in the middle of a test that counts rows.
        "maintenance_interval": 3600.0,
    }
    values.update(overrides)
    return test_settings(data_dir, **values)


def live_server(settings: Settings) -> Iterator[LiveServer]:
    clock = FrozenClock(time.time())
    app = create_app(settings, clock=clock)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestSmtp]:
    server = TestSmtp(tmp_path_factory.mktemp("smtp")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp) -> Iterator[LiveServer]:
    yield from live_server(recovery_settings(tmp_path_factory.mktemp("authgate"), smtp))


def register(
    client: httpx.Client, username: str, email: str | None, password: str = PASSWORD
) -> None:
    body: dict[str, str] = {"username": username, "password": password}
    if email is not None:
        body["email"] = email
    r = client.post("/users", json=body)
    assert r.status_code == 201, r.text


def register_without_address(live: LiveServer, username: str) -> None:
    """An account with no address on a server with ``require_verified_email``, as one
    registered before the setting was turned on (registration now refuses it)."""

    async def job(service: AuthServiceProtocol) -> None:
        assert isinstance(service, AuthService)
        accounts = service.ops.accounts
        accounts.require_email = False
        try:
            await service.register(username, PASSWORD)
        finally:
            accounts.require_email = True

    live.call(job)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def serve_env(smtp: TestSmtp, **extra: str) -> dict[str, str]:
    """The environment of an ``authgate serve`` process that mails through ``smtp``."""
    return {
        "AUTHGATE_EMAIL__SMTP_URL": smtp.url,
        "AUTHGATE_EMAIL__CA_FILE": str(smtp.cert),
        "AUTHGATE_EMAIL__POLL_INTERVAL": "0.1",
        "AUTHGATE_EMAIL__MAX_BACKOFF": "1",
        # A message claimed when the process died is retried once its lease ends.
        "AUTHGATE_EMAIL__LEASE": "12",
        # Long enough that a slow (loaded) SMTP exchange is not cut off after the
        # server accepted the message, which would send it again (at-least-once).
        "AUTHGATE_EMAIL__TIMEOUT": "5",
        "AUTHGATE_EMAIL__REQUESTS_PER_IP_PER_HOUR": "10000",
        "AUTHGATE_THROTTLE__REGISTRATIONS_PER_IP_PER_HOUR": "10000",
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgres"])
def racing(request: pytest.FixtureRequest, tmp_path: Path, smtp: TestSmtp) -> Iterator[LiveServer]:
    """Three messages per account (or address) per hour, for the burst tests; SQLite,
    or a fresh PostgreSQL database."""
    mail = email_settings(smtp, requests_per_hour=3)
    if request.param == "sqlite":
        yield from live_server(recovery_settings(tmp_path, smtp, email=mail))
        return
    with fresh_database() as url:
        yield from live_server(recovery_settings(tmp_path, smtp, email=mail, database_url=url))


def row_counts(live: LiveServer, *tables: Table) -> tuple[int, ...]:
    """How many rows each of ``tables`` holds in the server's database now."""

    async def job(service: AuthServiceProtocol) -> tuple[int, ...]:
        assert isinstance(service, AuthService)
        async with service.db.engine.connect() as conn:
            counts = [
                int((await conn.execute(select(func.count()).select_from(t))).scalar() or 0)
                for t in tables
            ]
        return tuple(counts)

    return live.call(job)
