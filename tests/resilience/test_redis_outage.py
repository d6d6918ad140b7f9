"""Redis down under load: verification never fails with 5xx, revocations made before
and during the outage are enforced through the database log, and the instances
resubscribe when Redis comes back. Uses a private redis-server, never the shared one."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from authgate.store.fanout import CHANNEL

from ._harness import (
    AuthgateServer,
    RedisServer,
    bearer,
    login,
    me_status,
    refresh,
    register,
    running,
    shared_key_env,
    tokens_of,
    unique,
    wait_until,
)

pytestmark = pytest.mark.postgres

#: With Redis healthy, a logout on A is enforced by B within this many seconds.
PROPAGATION = 1.0
#: With Redis down, the database poller (every 0.5 s) takes over; a generous bound.
FALLBACK = 5.0


def verify_forever(
    servers: tuple[AuthgateServer, ...], token: str, statuses: Counter[int], stop: threading.Event
) -> None:
    """A steady verification load on every instance until ``stop``."""
    clients = [server.client() for server in servers]
    try:
        for _ in range(100_000):
            if stop.is_set():
                return
            for client in clients:
                try:
                    statuses[me_status(client, token)] += 1
                except httpx.TransportError:
                    statuses[0] += 1
            stop.wait(0.005)
    finally:
        for client in clients:
            client.close()


def test_redis_outage_keeps_verifying_and_enforcing_revocations(
    tmp_path: Path, pg_database: str, private_redis: RedisServer
) -> None:
    env = {
        "AUTHGATE_DATABASE_URL": pg_database,
        "AUTHGATE_REDIS_URL": private_redis.url,
        **shared_key_env(),
    }
    a = AuthgateServer(tmp_path / "a", env)
    b = AuthgateServer(tmp_path / "b", env)
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    with running(a, b), a.client() as ca, b.client() as cb:
        assert wait_until(lambda: private_redis.subscribers(CHANNEL) == 2, timeout=10)
        user = unique("redisdown")
        assert register(ca, user).status_code == 201
        before, steady, during, after = (tokens_of(login(ca, user)) for _ in range(4))

        # Before the outage: the fast path.
        assert ca.post("/auth/logout", headers=bearer(before["access_token"])).status_code == 204
        assert wait_until(lambda: me_status(cb, before["access_token"]) == 401, timeout=PROPAGATION)

        load = threading.Thread(
            target=verify_forever, args=((a, b), steady["access_token"], statuses, stop)
        )
        load.start()
        try:
            private_redis.kill()
            # During the outage: logout still works and reaches B through the database.
            response = ca.post("/auth/logout", headers=bearer(during["access_token"]))
            assert response.status_code == 204
            assert wait_until(
                lambda: me_status(cb, during["access_token"]) == 401, timeout=FALLBACK
            )
            assert me_status(ca, during["access_token"]) == 401
            assert me_status(cb, before["access_token"]) == 401
            assert me_status(ca, before["access_token"]) == 401
            # A login needs the throttle's store: served or refused clearly, never a 500.
            # Refreshing needs no throttle: it keeps working on the database alone.
            assert refresh(cb, steady["refresh_token"]).status_code == 200
            outage_login = login(cb, user)
            print(f"login during the Redis outage: {outage_login.status_code}")
            assert outage_login.status_code in (200, 503), outage_login.text

            # Redis returns (same port): both instances resubscribe.
            private_redis.start()
            assert wait_until(lambda: private_redis.subscribers(CHANNEL) == 2, timeout=30)
            assert wait_until(lambda: login(ca, user).status_code == 200, timeout=15)
            assert ca.post("/auth/logout", headers=bearer(after["access_token"])).status_code == 204
            assert wait_until(
                lambda: me_status(cb, after["access_token"]) == 401, timeout=PROPAGATION
            )
        finally:
            stop.set()
            load.join(30)
    print(f"verification statuses during the test: {dict(statuses)}")
    assert statuses[200] > 0
    assert set(statuses) == {200}, statuses
