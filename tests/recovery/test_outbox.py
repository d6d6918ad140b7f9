"""The outbox: a request commits its message and answers; sending happens later,
with retries, exactly once on the normal path, across a ``kill -9`` and across two
instances on one PostgreSQL database (``FOR UPDATE SKIP LOCKED`` and a lease)."""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recovery._smtp import TestSmtp, free_port, token_in
from recovery.conftest import live_server, recovery_settings, register, serve_env
from resilience._harness import AuthgateServer, fresh_database, shared_key_env, wait_until
from server.conftest import LiveServer


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


def _pending(client: httpx.Client) -> float:
    return _metric(client.get("/metrics").text, "authgate_email_outbox_pending")


def _failed(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    return _metric(text, 'authgate_email_send_attempts_total{outcome="failed"}')


@pytest.fixture
def down_smtp(tmp_path: Path) -> Iterator[TestSmtp]:
    """An SMTP server that is not running yet (its port is reserved by nobody)."""
    server = TestSmtp(tmp_path, port=free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def down_live(tmp_path: Path, down_smtp: TestSmtp) -> Iterator[LiveServer]:
    yield from live_server(recovery_settings(tmp_path / "authgate", down_smtp))


def test_smtp_down_requests_still_answer_and_messages_wait_then_go_once(
    down_live: LiveServer, down_smtp: TestSmtp
) -> None:
    with down_live.client() as c:
        register(c, "patient", "patient@example.com")
        r = c.post("/auth/password-reset", json={"email": "patient@example.com"})
        assert r.status_code == 202
        # The worker tried and failed; the verification and the reset message wait.
        assert wait_until(lambda: _failed(c) >= 1 and _pending(c) == 2, timeout=30)
        assert c.get("/readyz").status_code == 200
        down_smtp.start()
        down_live.clock.advance(3600)  # past any back-off
        down_smtp.wait_for("patient@example.com", 2)
        assert wait_until(lambda: _pending(c) == 0, timeout=30)
    subjects = collections.Counter(str(m["Subject"]) for m in down_smtp.to("patient@example.com"))
    assert sorted(subjects.values()) == [1, 1], subjects


# aiosmtpd warns because its own check knows STARTTLS only; this server is TLS-only.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_smtps_delivers_with_auth(tmp_path: Path) -> None:
    smtp = TestSmtp(tmp_path, implicit_tls=True).start()
    try:
        for live in live_server(recovery_settings(tmp_path / "authgate", smtp)):
            with live.client() as c:
                register(c, "tls", "tls@example.com")
            message = smtp.wait_for("tls@example.com", subject="Confirm")[0]
            assert token_in(message)
            with smtp.lock:
                assert smtp.tls_used == [True]
    finally:
        smtp.stop()


def test_the_outbox_survives_kill_9_between_the_commit_and_the_send(
    tmp_path: Path, down_smtp: TestSmtp
) -> None:
    server = AuthgateServer(tmp_path / "data", serve_env(down_smtp)).start()
    try:
        with server.client() as c:
            register(c, "crash", "crash@example.com")
            assert c.post("/auth/password-reset", json={"username": "crash"}).status_code == 202
            assert wait_until(lambda: _failed(c) >= 1 and _pending(c) == 2, timeout=30)
        server.kill9()  # committed, never sent
        down_smtp.start()
        server.start()
        down_smtp.wait_for("crash@example.com", 2, timeout=60)
        with server.client() as c:
            assert wait_until(lambda: _pending(c) == 0, timeout=30)
            reset = down_smtp.wait_for("crash@example.com", subject="Reset")
            assert len(reset) == 1
            r = c.post(
                "/auth/password-reset/confirm",
                json={"token": token_in(reset[0]), "new_password": "quiet-harbour-falcon-58"},
            )
            assert r.status_code == 204
    finally:
        server.stop()
    subjects = collections.Counter(str(m["Subject"]) for m in down_smtp.to("crash@example.com"))
    assert subjects.most_common(1)[0][1] == 1, subjects  # each message once
    assert len(subjects) == 3  # verification, reset, then the "password changed" notice


@pytest.mark.postgres
def test_two_instances_on_postgres_send_each_message_exactly_once(
    tmp_path: Path, postgres_url: str, down_smtp: TestSmtp
) -> None:
    n = 15
    with fresh_database(postgres_url) as db:
        env = serve_env(down_smtp, AUTHGATE_DATABASE_URL=db, **shared_key_env())
        a = AuthgateServer(tmp_path / "a", env).start()
        b = AuthgateServer(tmp_path / "b", env).start()
        try:
            with a.client() as ca, b.client() as cb:
                for i in range(n):  # a backlog, both instances' messages mixed
                    client = ca if i % 2 else cb
                    register(client, f"user{i}", f"user{i}@example.com")
                    r = client.post("/auth/password-reset", json={"username": f"user{i}"})
                    assert r.status_code == 202
                assert wait_until(lambda: _pending(ca) == 2 * n, timeout=30)
                down_smtp.start()  # both workers now race for the same rows
                assert wait_until(lambda: len(down_smtp.messages) >= 2 * n, timeout=60)
                assert wait_until(lambda: _pending(ca) == 0 and _pending(cb) == 0, timeout=30)
                sent = [
                    _metric(
                        c.get("/metrics").text, 'authgate_email_send_attempts_total{outcome="sent"}'
                    )
                    for c in (ca, cb)
                ]
        finally:
            a.stop()
            b.stop()
    with down_smtp.lock:
        seen = collections.Counter((m["To"], str(m["Subject"])) for m in down_smtp.messages)
    assert len(seen) == 2 * n
    assert set(seen.values()) == {1}, seen
    assert sum(sent) == 2 * n, sent
