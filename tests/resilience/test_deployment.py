"""Deployment defaults, over HTTP against real ``authgate serve`` processes
(SECURITY.md A.7 #51, #52, #53):

- #51: from loopback, ``X-Forwarded-For`` sets neither the session's nor the audit
  row's IP unless ``AUTHGATE_TRUSTED_PROXIES`` names the peer;
- #52: started with ``umask 022``, the data directory is 0700 and the database, its
  -wal and -shm and the KEK file 0600; ``authgate check`` warns on looser modes;
- #53: 1,000 garbage refreshes from one IP (concurrent bursts) add a bounded number of
  rows and the count is recorded; rows older than the retention are purged by the
  maintenance pass; ``authgate audit list`` filters in a second process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ._harness import AUTHGATE, AuthgateServer, bearer, login, register, tokens_of, unique

SPOOFED = "203.0.113.9"
XFF = {"X-Forwarded-For": SPOOFED}


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """The umask ``authgate serve`` inherits (it is copied at fork)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def db_rows(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(data_dir / "authgate.db", timeout=10)) as db:
        return db.execute(sql, args).fetchall()


def cli(server: AuthgateServer, *args: str) -> subprocess.CompletedProcess[str]:
    """``authgate <args>`` in a second process with the server's settings."""
    return subprocess.run(
        [str(AUTHGATE), *args],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def audit_json(server: AuthgateServer, *args: str) -> list[dict[str, Any]]:
    done = cli(server, "audit", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def login_through_proxy_header(
    server: AuthgateServer, source: str = "127.0.0.1"
) -> tuple[str, str]:
    """From ``source`` (a loopback address the connection is bound to, as a proxy's
    would be): register, then log in with a spoofed X-Forwarded-For, once wrong and
    once right; (username, the session's ip)."""
    user = unique("xff")
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=server.url, timeout=15, transport=transport) as client:
        assert register(client, user).status_code == 201
        form = {"grant_type": "password", "username": user, "password": "wrong-Password-1!"}
        assert client.post("/auth/token", data=form, headers=XFF).status_code == 400
        body = client.post(
            "/auth/token",
            data={**form, "password": "resilience-pass-7Qx!v2"},
            headers=XFF,
        )
        access = tokens_of(body)["access_token"]
        sessions = client.get("/users/me/sessions", headers=bearer(access))
        assert sessions.status_code == 200, sessions.text
        (session,) = sessions.json()
    return user, session["ip"]


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Path) -> None:
    plain = AuthgateServer(tmp_path / "plain")
    with contextlib.ExitStack() as stack:
        stack.callback(plain.stop)
        plain.start()
        user, ip = login_through_proxy_header(plain)
        assert ip == "127.0.0.1"
        events = audit_json(plain, "--user", user)
        assert {e["event"] for e in events} >= {"login_ok", "login_failed"}
        assert {e["ip"] for e in events if e["event"].startswith("login")} == {"127.0.0.1"}
    stored = b"".join(p.read_bytes() for p in plain.data_dir.glob("authgate.db*"))
    assert SPOOFED.encode() not in stored  # nowhere: sessions, audit, anything

    # The proxy connects from 127.0.0.2; 127.0.0.1, loopback too, is not a proxy.
    proxies = {"AUTHGATE_TRUSTED_PROXIES": "127.0.0.2, 10.0.0.0/8"}
    proxied = AuthgateServer(tmp_path / "proxied", proxies)
    with contextlib.ExitStack() as stack:
        stack.callback(proxied.stop)
        proxied.start()
        user, ip = login_through_proxy_header(proxied, source="127.0.0.2")
        assert ip == SPOOFED
        events = audit_json(proxied, "--user", user)
        assert {e["ip"] for e in events if e["event"].startswith("login")} == {SPOOFED}
        user, ip = login_through_proxy_header(proxied, source="127.0.0.1")
        assert ip == "127.0.0.1"
        events = audit_json(proxied, "--user", user)
        assert {e["ip"] for e in events if e["event"].startswith("login")} == {"127.0.0.1"}

    cidr = AuthgateServer(tmp_path / "cidr", {"AUTHGATE_TRUSTED_PROXIES": "127.0.0.0/8"})
    with contextlib.ExitStack() as stack:
        stack.callback(cidr.stop)
        cidr.start()
        assert login_through_proxy_header(cidr)[1] == SPOOFED


def test_a_bad_trusted_proxy_list_is_one_line_and_exit_1(tmp_path: Path) -> None:
    server = AuthgateServer(tmp_path / "bad", {"AUTHGATE_TRUSTED_PROXIES": "10.0.0.1, proxy.lan"})
    for command in (["serve", "--port", str(server.port)], ["check"]):
        done = cli(server, *command)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "AUTHGATE_TRUSTED_PROXIES" in lines[0]
        assert "proxy.lan" in lines[0]


def test_data_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "srv" / "authgate-data"  # the harness makes srv; serve makes this
    server = AuthgateServer(tmp_path / "srv", {"AUTHGATE_DATA_DIR": str(data)})
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        with umask(0o022):
            server.start()
        with server.client() as client:  # a write, so the WAL has content
            assert register(client, unique("modes")).status_code == 201
        # SQLite makes -wal and -shm with the database's mode, and may remove them when
        # its last connection closes (some driver versions do): each one present is 0600.
        files = ["authgate.db", "kek.key"]
        files += [n for n in ("authgate.db-wal", "authgate.db-shm") if (data / n).exists()]
        assert mode(data) == 0o700
        assert {name: oct(mode(data / name)) for name in files} == dict.fromkeys(files, oct(0o600))
        done = cli(server, "check")
        assert done.returncode == 0, done.stderr
        assert "other local users" not in done.stderr

        # A deployment made before (or loosened by hand): check warns, per path.
        os.chmod(data, 0o755)
        os.chmod(data / "authgate.db", 0o644)
        done = cli(server, "check")
        assert done.returncode == 0, done.stderr
        warned = [line for line in done.stderr.splitlines() if "other local users" in line]
        assert len(warned) == 2, done.stderr
        assert any("0755" in w and str(data) in w for w in warned)
        assert any("0644" in w and "authgate.db" in w for w in warned)


async def _garbage_refreshes(url: str, total: int, burst: int) -> list[int]:
    limits = httpx.Limits(max_connections=burst)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(i: int) -> int:
            form = {"grant_type": "refresh_token", "refresh_token": f"{i:043d}"}
            return (await client.post("/auth/token", data=form)).status_code

        codes: list[int] = []
        for start in range(0, total, burst):
            codes += await asyncio.gather(*(one(i) for i in range(start, start + burst)))
        return codes


def test_garbage_refreshes_add_bounded_rows_and_their_count(tmp_path: Path) -> None:
    server = AuthgateServer(tmp_path / "flood")
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        server.start()
        codes = asyncio.run(_garbage_refreshes(server.url, 1000, 50))
        assert codes == [400] * 1000
        rows = db_rows(
            server.data_dir, "SELECT ip FROM audit_events WHERE event=?", "refresh_failed"
        )
        assert rows == [("127.0.0.1",)] * 5  # AUTHGATE_AUDIT__ROWS_PER_IP
        server.stop()  # SIGTERM: the open window's count is written at shutdown
    rows = db_rows(
        server.data_dir, "SELECT ip, detail FROM audit_events WHERE event=?", "refresh_failed"
    )
    assert len(rows) == 6
    summary = json.loads(rows[-1][1])
    assert rows[-1][0] == "127.0.0.1"
    assert summary["suppressed"] == 995
    assert summary["by_ip"] == {"127.0.0.1": 995}
    events = audit_json(server, "--event", "refresh_failed")
    assert sum(e["detail"].get("suppressed", 1) for e in events) == 1000


def test_retention_purge_and_audit_list_filters(tmp_path: Path) -> None:
    server = AuthgateServer(tmp_path / "retention", {"AUTHGATE_AUDIT__RETENTION_DAYS": "30"})
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        server.start()
        user = unique("audit")
        with server.client() as client:
            assert register(client, user).status_code == 201
            assert login(client, user).status_code == 200
        server.stop()
        now = time.time()
        with contextlib.closing(sqlite3.connect(server.data_dir / "authgate.db")) as db:
            for age_days, marker in ((31, "old"), (29, "kept"), (2, "recent")):
                db.execute(
                    "INSERT INTO audit_events (at, event, ip, detail) VALUES (?, ?, ?, ?)",
                    (now - age_days * 86_400, "seeded", "192.0.2.1", json.dumps(marker)),
                )
            db.commit()
        server.start()  # the maintenance pass runs before serving (and every 30 s)
        seeded = db_rows(server.data_dir, "SELECT detail FROM audit_events WHERE event='seeded'")
        assert sorted(json.loads(d) for (d,) in seeded) == ["kept", "recent"]

        # The filters, from a second process while the server runs.
        assert [e["detail"] for e in audit_json(server, "--event", "seeded")] == [
            "recent",
            "kept",
        ]
        assert [e["detail"] for e in audit_json(server, "--event", "seeded", "--since", "7d")] == [
            "recent"
        ]
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 86_400))
        assert len(audit_json(server, "--event", "seeded", "--since", since)) == 1
        assert len(audit_json(server, "--event", "seeded", "--limit", "1")) == 1
        mine = audit_json(server, "--user", user.upper())  # usernames match like logins
        assert [e["event"] for e in mine] == ["login_ok", "user_registered"]
        assert audit_json(server, "--user", mine[0]["user_id"]) == mine
        table = cli(server, "audit", "list", "--user", user)
        assert table.returncode == 0
        assert table.stdout.splitlines()[0].split()[:2] == ["AT", "EVENT"]
        assert "login_ok" in table.stdout

        for bad in (["--since", "yesterday"], ["--limit", "0"], ["--event", "DROP TABLE"]):
            done = cli(server, "audit", "list", *bad)
            assert done.returncode == 2, (bad, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
