"""Property-based fuzzing of the OpenAPI document against the live server: no 5xx,
no status code the document does not declare, responses match their schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import CookieSettings
from authgate.testing import test_settings

from .conftest import PASSWORD, serve

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    data: Path = tmp_path_factory.mktemp("fuzz")
    cookies = CookieSettings(enabled=True, secure=False)
    app = create_app(test_settings(data, cookies=cookies), clock=FrozenClock(), pages=False)
    with serve(app) as (url, _loop), httpx.Client(base_url=url) as c:
        c.post("/users", json={"username": "fuzz-user", "password": PASSWORD})
        r = c.post("/auth/token", data={"username": "fuzz-user", "password": PASSWORD})
        yield url, r.json()["access_token"]


def fuzz(operation: Any, url: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

    run()


def test_no_server_errors_and_no_undocumented_status(fuzz_target: tuple[str, str]) -> None:
    # schemathesis' pytest plugin does not support this pytest; drive hypothesis directly.
    url, token = fuzz_target
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        operations += 1
        path: str = operation.path
        auth = {} if path.startswith("/auth/logout") else {"Authorization": f"Bearer {token}"}

        try:
            fuzz(operation, url, auth)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            failures.append(f"{operation.method.upper()} {path}: {exc}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
