"""Shared fixtures. Services (PostgreSQL, Redis, Chromium) are real: when one is
missing, its tests skip with the reason, except under
``AUTHGATE_TEST_REQUIRE_SERVICES=1`` (set by .ci/run), where they fail."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from authgate.clock import FrozenClock

REQUIRE_SERVICES = os.environ.get("AUTHGATE_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "AUTHGATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHARED_VECTORS = Path(__file__).parent / "vectors"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (in CI) when a service is not reachable."""
    if _port_open(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and AUTHGATE_TEST_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(f"{reason}; start it to run this test")


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def environment_left_as_found() -> Iterator[None]:
    """Each test gets the environment the previous one found: ``authgate serve`` run
    in-process (CliRunner) writes its zero-configuration ``AUTHGATE_*`` defaults into
    ``os.environ``, which would otherwise reach every later test's ``Settings``."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
