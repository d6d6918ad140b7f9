"""The HTTP routes hand the client's address to the service, so the per-IP limits on
registration and on password-change guessing hold over real HTTP (SECURITY.md #38)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import ThrottleSettings
from authgate.testing import test_settings

from .conftest import NEW_PASSWORD, PASSWORD, LiveServer, serve


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    clock = FrozenClock(time.time())
    settings = test_settings(
        tmp_path,
        throttle=ThrottleSettings(registrations_per_ip_per_hour=2, per_ip_max_failures=2),
    )
    app = create_app(settings, clock=clock)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)


def test_registrations_from_one_address_are_limited(strict: LiveServer) -> None:
    with strict.client() as client:
        strict.register(client, "reg-one")
        strict.register(client, "reg-two")
        third = client.post("/users", json={"username": "reg-three", "password": PASSWORD})
    assert third.status_code == 429, third.text
    assert int(third.headers["Retry-After"]) >= 1


def test_password_guessing_counts_against_the_client_address(strict: LiveServer) -> None:
    with strict.client() as client:
        strict.register(client, "victim")
        token = strict.login(client, "victim")["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        wrong = {"current_password": "not-the-password-1", "new_password": NEW_PASSWORD}
        statuses = [
            client.post("/users/me/password", json=wrong, headers=headers).status_code
            for _ in range(3)
        ]
    # per_ip_max_failures=2: the address is blocked before the account limit (5) is hit.
    assert statuses[:2] == [400, 400]
    assert statuses[2] == 429
