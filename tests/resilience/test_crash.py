"""kill -9 during a mixed load: whatever the server acknowledged survives a restart on
the same data directory, and the SQLite file is intact."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ._harness import (
    AuthgateServer,
    bearer,
    login,
    me_status,
    refresh,
    register,
    unique,
    wait_until,
)

#: Operations each worker may run at most (the crash comes long before).
MAX_ROUNDS = 40
WORKERS = 3


@dataclass
class Acknowledged:
    """What the server answered success for, before the crash."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: list[str] = field(default_factory=list)
    #: access tokens of sessions the workers never touched again after login.
    kept: list[str] = field(default_factory=list)
    #: (access, refresh) of sessions ended by an acknowledged logout.
    ended: list[tuple[str, str]] = field(default_factory=list)
    #: refresh tokens revoked with an acknowledged RFC 7009 revocation.
    revoked: list[str] = field(default_factory=list)
    #: refresh tokens spent by an acknowledged rotation.
    spent: list[str] = field(default_factory=list)

    def add(self, kind: str, value: object) -> None:
        with self.lock:
            getattr(self, kind).append(value)

    def count(self) -> int:
        with self.lock:
            return len(self.ended) + len(self.revoked)


def mixed_load(server: AuthgateServer, acked: Acknowledged, stop: threading.Event) -> None:
    """register → login → refresh → (keep | logout | revoke), until the crash."""
    try:
        with server.client() as client:
            for round_ in range(MAX_ROUNDS):
                if stop.is_set():
                    return
                user = unique("crash")
                if register(client, user).status_code != 201:
                    continue
                acked.add("users", user)
                first = login(client, user)
                if first.status_code != 200:
                    continue
                spent = first.json()["refresh_token"]
                second = refresh(client, spent)
                if second.status_code != 200:
                    continue
                acked.add("spent", spent)
                access, refresh_token = (
                    second.json()["access_token"],
                    second.json()["refresh_token"],
                )
                match round_ % 3:
                    case 0:
                        acked.add("kept", access)
                    case 1:
                        if client.post("/auth/logout", headers=bearer(access)).status_code == 204:
                            acked.add("ended", (access, refresh_token))
                    case _:
                        form = {"token": refresh_token, "token_type_hint": "refresh_token"}
                        if client.post("/auth/revoke", data=form).status_code == 200:
                            acked.add("revoked", refresh_token)
    except httpx.TransportError:
        return  # the crash


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    return str(row[0])


def test_acknowledged_writes_survive_kill_9_and_old_tokens_still_verify(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"AUTHGATE_SESSIONS__REUSE_GRACE": "0"}
    server = AuthgateServer(data_dir, env).start()
    acked = Acknowledged()
    stop = threading.Event()
    workers = [
        threading.Thread(target=mixed_load, args=(server, acked, stop), daemon=True)
        for _ in range(WORKERS)
    ]
    try:
        for worker in workers:
            worker.start()
        # Crash mid-load, once a few sessions have been ended and revoked.
        assert wait_until(lambda: acked.count() >= 4, timeout=90, interval=0.02)
        server.kill9()
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
        server.stop()
    assert not any(worker.is_alive() for worker in workers)
    print(
        f"acknowledged before kill -9: {len(acked.users)} registrations, {len(acked.kept)} "
        f"kept, {len(acked.ended)} logouts, {len(acked.revoked)} revocations, "
        f"{len(acked.spent)} rotations"
    )
    db = data_dir / "authgate.db"
    assert integrity(db) == "ok"

    restarted = AuthgateServer(data_dir, env).start()
    try:
        with restarted.client() as client:
            # Same signing keys: access tokens issued before the crash still verify.
            assert acked.kept
            for access in acked.kept:
                assert me_status(client, access) == 200
            for access, refresh_token in acked.ended:
                assert me_status(client, access) == 401
                assert refresh(client, refresh_token).status_code == 400
            for refresh_token in acked.revoked:
                assert refresh(client, refresh_token).status_code == 400
            for refresh_token in acked.spent:
                assert refresh(client, refresh_token).status_code == 400
            # Acknowledged registrations log in (a few: Argon2 is slow on purpose).
            for user in acked.users[:4]:
                assert login(client, user).status_code == 200
    finally:
        restarted.stop()
    # ... and every one of them is in the database.
    listed = restarted.cli("users", "list").stdout.split()
    assert set(acked.users) <= set(listed)
    assert integrity(db) == "ok"
