"""SECURITY.md A.7 #50 over HTTP: whoever can publish on the revocation channel can
neither un-revoke nor revoke. Two servers on PostgreSQL and a real (private) Redis;
authgate's own message is captured, then replayed, mutated and buried in garbage,
in the shapes older versions applied (expiries 0, cut-offs in the far future, other
kinds, other users' keys) and in huge sizes. A logged-out token stays 401 on both
instances and an innocent user's tokens stay 200, also after maintenance passes
(which purge whatever looks expired)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from authgate.store.fanout import channel_for

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
_METRIC = re.compile(r'^authgate_revocation_messages_total\{outcome="\w+"\} ([0-9.e+]+)$', re.M)
_READS = re.compile(r"^authgate_revocation_log_reads_total ([0-9.e+]+)$", re.M)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def messages_received(client: httpx.Client) -> int:
    """Messages the instance took off the channel (``/metrics``, every outcome)."""
    return int(sum(float(n) for n in _METRIC.findall(client.get("/metrics").text)))


def log_reads(client: httpx.Client) -> int:
    match = _READS.search(client.get("/metrics").text)
    assert match is not None
    return int(float(match.group(1)))


def first_message(pubsub: Any, timeout: float = 10.0) -> bytes:
    """The first message published on the channel (subscribe confirmations skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            data: bytes = message["data"]
            return data
    raise AssertionError("authgate published nothing on its channel")


def reaches(count: Callable[[httpx.Client], int], client: httpx.Client, n: int) -> bool:
    """Bounded wait until ``count(client)`` is at least ``n``."""
    return wait_until(lambda: count(client) >= n, timeout=30)


def maintenance_passes(client: httpx.Client) -> int:
    passes: int = client.get("/test/maintenance").json()["passes"]
    return passes


def forgeries(captured: bytes, victim: dict[str, Any], innocent: dict[str, Any]) -> list[bytes]:
    """Mutated copies of authgate's own message, and the rows older versions applied
    straight from the channel ([kind, key, value, expires_at]) with their numbers set
    to 0, negative or the far future, for the victim's and the innocent's keys."""
    far = 1e18
    rows: list[list[Any]] = []
    for number in (1e308, 1e-9, -1, 0):
        rows += [["jti", victim["jti"], number, number], ["sid", victim["sid"], number, number]]
    for number in (far, 4_102_444_800, innocent["iat"] + 1):
        rows += [["sub", innocent["sub"], number, far], ["sid", innocent["sid"], number, far]]
        rows += [["jti", innocent["jti"], number, far]]
    rows += [
        ["sub", victim["sub"], 0, 0],
        ["keys", "forged-kid", 0, 0],
        ["keys", victim["jti"], far, far],
        ["admin", innocent["sub"], far, far],
        ["jti", innocent["jti"]],
    ]
    flipped = bytes(b ^ 0x01 for b in captured)
    return [
        *([captured] * 20),
        captured[:-1],
        captured + b"\x00",
        flipped,
        *(orjson.dumps(row) for row in rows),
        *(orjson.dumps({"seq": n, "kind": "jti", "key": victim["jti"]}) for n in (0, -1, 2**62)),
        b"",
        b"\x00\xff" * 512,
        *(secrets.token_bytes(64) for _ in range(50)),
        b"[" * 100_000,
        b"x" * (4 << 20),
    ]


def test_forged_revocation_messages_neither_un_revoke_nor_revoke(
    tmp_path: Path, pg_database: str, private_redis: RedisServer
) -> None:
    namespace = unique("hints")
    channel = channel_for(namespace)
    env = {
        "AUTHGATE_DATABASE_URL": pg_database,
        "AUTHGATE_REDIS_URL": private_redis.url,
        "AUTHGATE_REDIS_NAMESPACE": namespace,
        "AUTHGATE_TEST_MAINTENANCE_INTERVAL": "0.5",
        **shared_key_env(),
    }
    servers = [
        AuthgateServer(tmp_path / name, env, with_resource=True, factory="build_with_maintenance")
        for name in ("a", "b")
    ]
    attacker = redis.Redis.from_url(private_redis.url, socket_timeout=10)
    capture = attacker.pubsub()
    try:
        with running(*servers) as (a, b), a.client() as ca, b.client() as cb:
            capture.subscribe(channel)
            assert wait_until(lambda: private_redis.subscribers(channel) == 3, timeout=10)
            victim, innocent = unique("victim"), unique("innocent")
            assert register(ca, victim).status_code == 201
            assert register(ca, innocent).status_code == 201
            out = tokens_of(login(ca, victim))
            fresh = tokens_of(login(cb, innocent))
            for client in (ca, cb):
                assert me_status(client, out["access_token"]) == 200
                assert me_status(client, fresh["access_token"]) == 200

            # The victim logs out on A; authgate's own message goes out on the channel.
            assert ca.post("/auth/logout", headers=bearer(out["access_token"])).status_code == 204
            assert wait_until(
                lambda: me_status(cb, out["access_token"]) == 401, timeout=PROPAGATION
            )
            captured = first_message(capture)
            print(f"captured authgate's message: {captured!r}")

            forged = forgeries(
                captured, claims_of(out["access_token"]), claims_of(fresh["access_token"])
            )
            seen = {server.url: messages_received(client) for server, client in ((a, ca), (b, cb))}
            reads = {server.url: log_reads(client) for server, client in ((a, ca), (b, cb))}
            pipe = attacker.pipeline(transaction=False)
            for message in forged:
                pipe.publish(channel, message)
            assert pipe.execute() == [3] * len(forged)  # both instances and our capture
            for server, client in ((a, ca), (b, cb)):
                expected = seen[server.url] + len(forged)
                assert reaches(messages_received, client, expected)
                added = log_reads(client) - reads[server.url]
                print(f"{server.url}: {len(forged)} forged messages → {added} reads of the log")
                assert added <= len(forged)

            def holds(stage: str) -> None:
                for client in (ca, cb):
                    assert me_status(client, out["access_token"]) == 401, stage
                    assert me_status(client, fresh["access_token"]) == 200, stage
                    assert refresh(client, out["refresh_token"]).status_code == 400, stage

            holds("after the forged messages")
            # Maintenance purges what looks expired: wait for two full passes on each.
            passes = {
                server.url: maintenance_passes(client) for server, client in ((a, ca), (b, cb))
            }
            for server, client in ((a, ca), (b, cb)):
                assert reaches(maintenance_passes, client, passes[server.url] + 2)
            holds("after the maintenance passes")
            # And the innocent user signs in again: a fresh token works on both.
            again = tokens_of(login(cb, innocent))
            for client in (ca, cb):
                assert me_status(client, again["access_token"]) == 200
    finally:
        capture.close()
        attacker.close()
