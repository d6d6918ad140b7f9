"""A bounded mixed load (``AUTHGATE_SOAK_SECONDS``, default 60) against one
``authgate serve``: no 5xx, and the server's resident memory stays flat after warm-up
(median RSS of the last quarter < 1.2 × that of the second quarter)."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from ._harness import (
    AuthgateServer,
    bearer,
    login,
    refresh,
    register,
    rss_kib,
    tokens_of,
    unique,
)

SOAK_SECONDS = float(os.environ.get("AUTHGATE_SOAK_SECONDS", "60"))
MAX_GROWTH = 1.20


def verifier(
    server: AuthgateServer, token: str, statuses: Counter[str], stop: threading.Event
) -> None:
    with server.client() as client:
        while not stop.is_set():
            response = client.get("/users/me", headers=bearer(token))
            statuses[f"me {response.status_code}"] += 1


def churner(
    server: AuthgateServer, user: str, statuses: Counter[str], stop: threading.Event
) -> None:
    """login → refresh ×3 → logout, over and over; plus a failed login now and then."""
    with server.client() as client:
        rounds = 0
        while not stop.is_set():
            rounds += 1
            response = login(client, user)
            statuses[f"login {response.status_code}"] += 1
            if response.status_code != 200:
                continue
            pair = response.json()
            for _ in range(3):
                response = refresh(client, pair["refresh_token"])
                statuses[f"refresh {response.status_code}"] += 1
                if response.status_code != 200:
                    break
                pair = response.json()
            response = client.post("/auth/logout", headers=bearer(pair["access_token"]))
            statuses[f"logout {response.status_code}"] += 1
            if rounds % 5 == 0:
                statuses[f"bad login {login(client, user, 'not-the-password').status_code}"] += 1


def test_soak_keeps_memory_flat_and_never_fails(tmp_path: Path) -> None:
    server = AuthgateServer(tmp_path / "data").start()
    statuses: Counter[str] = Counter()
    stop = threading.Event()
    samples: list[int] = []
    try:
        user = unique("soak")
        with server.client() as client:
            assert register(client, user).status_code == 201
            token = tokens_of(login(client, user))["access_token"]
        threads = [
            threading.Thread(target=verifier, args=(server, token, statuses, stop)),
            threading.Thread(target=verifier, args=(server, token, statuses, stop)),
            threading.Thread(target=churner, args=(server, user, statuses, stop)),
        ]
        for thread in threads:
            thread.start()
        try:
            started = time.monotonic()
            while time.monotonic() - started < SOAK_SECONDS:
                samples.append(rss_kib(server.pid))
                stop.wait(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
    except httpx.TransportError as exc:
        raise AssertionError(f"server dropped a connection: {exc}\n{server.log_tail()}") from exc
    finally:
        server.stop()
    quarter = max(1, len(samples) // 4)
    second, last = samples[quarter : 2 * quarter], samples[-quarter:]
    print(f"RSS samples (KiB, 1/s): {samples}")
    print(f"requests: {dict(statuses)}")
    assert len(samples) >= 8
    assert not any(key.endswith(tuple(f" {c}" for c in range(500, 600))) for key in statuses)
    for key in ("me 200", "login 200", "refresh 200", "logout 204"):
        assert statuses[key] > 0, key
    assert statistics.median(last) < MAX_GROWTH * statistics.median(second)
