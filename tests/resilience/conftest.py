"""Fixtures for the resilience tests: real ``authgate serve`` processes on loopback,
a throwaway PostgreSQL database per test, and a private redis-server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._harness import ModuleState, RedisServer, fresh_database


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """A fresh database (``authgate_res_<random>``), dropped after the test."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Our own redis-server on a free port, so killing it never touches the shared one."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def module_state() -> Iterator[ModuleState]:
    with contextlib.ExitStack() as stack:
        yield ModuleState(stack)
