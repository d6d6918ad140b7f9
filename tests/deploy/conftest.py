"""Fixtures for the deployment tests: Debian's nginx (``/usr/sbin/nginx``) in front of
real ``authgate serve`` processes. Without nginx the tests skip locally and fail under
``AUTHGATE_TEST_REQUIRE_SERVICES=1`` (set by .ci/run), as tests/conftest.py does for
PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience._harness import ModuleState

NGINX = Path("/usr/sbin/nginx")
REQUIRE_SERVICES = os.environ.get("AUTHGATE_TEST_REQUIRE_SERVICES") == "1"


@pytest.fixture
def nginx_binary() -> Path:
    if NGINX.is_file():
        return NGINX
    reason = f"{NGINX} is missing (apt-get install nginx)"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and AUTHGATE_TEST_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(f"{reason}; install it to run this test")


@pytest.fixture(scope="module")
def module_state() -> Iterator[ModuleState]:
    with contextlib.ExitStack() as stack:
        yield ModuleState(stack)
