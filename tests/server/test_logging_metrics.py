"""Security events reach the log as structured JSON lines without secrets, and are
counted on /metrics; the resource-server guard imports no SQLAlchemy or Redis."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authgate.server import create_app
from authgate.server.logging import JSONFormatter
from authgate.testing import test_settings

from .conftest import PASSWORD


def test_audit_events_are_json_lines_without_tokens_or_passwords(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authgate.audit")
    with TestClient(create_app(test_settings(tmp_path))) as c:
        c.post("/users", json={"username": "log-user", "password": PASSWORD})
        pair = c.post("/auth/token", data={"username": "log-user", "password": PASSWORD}).json()
        c.post("/auth/token", data={"username": "log-user", "password": "wrong-password"})
        c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        )
        metrics = c.get("/metrics").text
    formatter = JSONFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "authgate.audit"]
    events = [json.loads(line)["event"] for line in lines]
    assert {"user_registered", "login_ok", "login_failed", "refresh"} <= set(events)
    for line in lines:
        for secret in (PASSWORD, "wrong-password", pair["access_token"], pair["refresh_token"]):
            assert secret not in line
    assert 'authgate_security_events_total{event="login_failed"} 1.0' in metrics
    assert 'authgate_security_events_total{event="refresh"} 1.0' in metrics


def test_json_formatter_drops_secret_looking_fields() -> None:
    record = logging.LogRecord("authgate.audit", logging.INFO, __file__, 1, "login_ok", None, None)
    record.event = "login_ok"
    record.detail = {"refresh_token": "rt", "password": "pw", "client": "x"}
    record.access_token = "at"
    line = json.loads(JSONFormatter().format(record))
    assert line["event"] == "login_ok"
    assert line["detail"] == {"client": "x"}
    assert "access_token" not in line


def test_each_app_has_its_own_metrics_registry(tmp_path: Path) -> None:
    one = create_app(test_settings(tmp_path / "a"))
    two = create_app(test_settings(tmp_path / "b"))
    assert one.state.metrics.registry is not two.state.metrics.registry


def test_guard_imports_no_sqlalchemy_or_redis() -> None:
    code = (
        "import sys; import authgate.web.guard, authgate.web.middleware, authgate.web; "
        "bad = [m for m in ('sqlalchemy', 'redis', 'authgate.service') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_access_log_never_shows_query_strings() -> None:
    import logging.config

    from authgate.server.logging import log_config

    logging.config.dictConfig(log_config())
    try:
        access = logging.getLogger("uvicorn.access")
        handler = access.handlers[0]
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:1", "GET", "/users/me?access_token=eyJsecret", "1.1", 401),
            None,
        )
        assert handler.filter(record)
        line = handler.format(record)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
        for name in ("authgate", "uvicorn", "uvicorn.access", "uvicorn.error"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    assert "eyJsecret" not in line
    assert "/users/me?[redacted]" in line


def test_metrics_with_a_token_answer_only_that_bearer_token(tmp_path: Path) -> None:
    token = "m" * 16 + "etrics-token-for-prometheus-42"
    with TestClient(create_app(test_settings(tmp_path, metrics_token=token))) as c:
        missing = c.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = c.get("/metrics", headers={"Authorization": "Bearer " + "x" * len(token)})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_token"
        basic = c.get("/metrics", headers={"Authorization": "Basic " + token})
        assert basic.status_code == 401
        ok = c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert "authgate_http_requests_total" in ok.text


def test_metrics_without_a_token_are_open(tmp_path: Path) -> None:
    with TestClient(create_app(test_settings(tmp_path))) as c:
        assert c.get("/metrics").status_code == 200


def test_an_empty_metrics_token_closes_metrics_rather_than_opening_it(tmp_path: Path) -> None:
    with TestClient(create_app(test_settings(tmp_path, metrics_token=""))) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_a_summary_row_counts_the_failures_it_stands_for() -> None:
    """SECURITY.md A.7 #53: failures that got no audit row of their own still count."""
    from authgate.server.metrics import AuditEventCounter, Metrics
    from authgate.service.audit import log_event

    metrics = Metrics()
    counter = AuditEventCounter(metrics)
    counter.attach()
    try:
        log_event("login_throttled", ip="192.0.2.1")
        log_event("login_throttled", ip="192.0.2.1", suppressed=995, by_ip={"192.0.2.1": 995})
    finally:
        counter.detach()
    value = metrics.registry.get_sample_value(
        "authgate_security_events_total", {"event": "login_throttled"}
    )
    assert value == 996
