"""A library app that never set its issuer is told so at start-up, once: the default
``http://127.0.0.1:8000`` would go into every token's ``iss`` and the metadata's URLs
(RFC 8414 §2) of an app that serves somewhere else."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.endpoints import AuthGate
from authgate.testing import test_settings


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "authgate" and r.levelno == logging.WARNING and "AUTHGATE_ISSUER" in r.message
    ]


def _start_twice(gate: AuthGate) -> None:
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)
    for _ in range(2):
        with TestClient(app) as client:
            issuer = client.get("/.well-known/oauth-authorization-server").json()["issuer"]
            assert issuer == gate.settings.issuer


def test_default_issuer_warns_once_at_start_with_how_to_set_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate = AuthGate(test_settings(tmp_path))
    with caplog.at_level(logging.WARNING, logger="authgate"):
        assert _warnings(caplog) == []  # nothing before start-up
        _start_twice(gate)
    [record] = _warnings(caplog)
    assert "http://127.0.0.1:8000" in record.message
    assert "Settings(issuer=" in record.message


def test_configured_issuer_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gate = AuthGate(test_settings(tmp_path, issuer="http://127.0.0.1:8000"))
    with caplog.at_level(logging.WARNING, logger="authgate"):
        _start_twice(gate)
    assert _warnings(caplog) == []
