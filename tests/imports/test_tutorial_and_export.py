"""The FastAPI tutorial's ``users`` table (bcrypt hashes) through the migration
guide's own commands (docs/migrating.md, "From the FastAPI tutorial"), export →
import round trips, and the progress display on a terminal or a pipe."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import sqlite3
import subprocess
from pathlib import Path

import bcrypt
import pytest

from imports.conftest import authgate, server_env, write_jsonl
from passwords.legacy_hashes import MAKERS
from races.conftest import AUTHGATE, PASSWORD, ServerFactory, login

ROOT = Path(__file__).resolve().parents[2]


def guide_block(heading: str) -> str:
    """The first ```sh block after ``heading`` in docs/migrating.md."""
    text = (ROOT / "docs" / "migrating.md").read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start : after.index("```", start)]


@pytest.fixture
def tutorial_db(tmp_path: Path) -> Path:
    """The tutorial's table: username, full_name, email, hashed_password (bcrypt, as
    passlib's CryptContext(schemes=["bcrypt"]) wrote it: cost 12), disabled."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE users (username TEXT PRIMARY KEY, full_name TEXT, email TEXT,"
            " hashed_password TEXT NOT NULL, disabled BOOLEAN DEFAULT 0)"
        )
        for name, disabled in [("johndoe", 0), ("alice", 1)]:
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=12)).decode()
            db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                (name, name.title(), f"{name}@example.com", hashed, disabled),
            )
    db.close()
    return path


@pytest.mark.anyio
async def test_the_guides_tutorial_commands_bring_users_over_with_their_passwords(
    tutorial_db: Path, start_server: ServerFactory
) -> None:
    if shutil.which("sqlite3") is None or shutil.which("jq") is None:
        pytest.skip("the guide's commands need the sqlite3 and jq programs")
    server = start_server()
    env = {**server_env(server), "PATH": f"{AUTHGATE.parent}:{os.environ['PATH']}"}
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", guide_block("## From the FastAPI tutorial")],
        cwd=tutorial_db.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "imported 2, updated 0, skipped 0 existing, refused 0" in done.stdout
    async with server.client() as client:
        assert (await login(client, "johndoe", PASSWORD)).status_code == 200
        assert (await login(client, "alice", PASSWORD)).status_code == 400  # disabled


def test_export_then_import_round_trips(start_server: ServerFactory, tmp_path: Path) -> None:
    first, second = start_server(), start_server()
    records = [
        {
            "username": f"Ünïcode-{i}",
            "email": f"u{i}@example.com",
            "email_verified": bool(i % 2),
            "disabled": i == 2,
            "scopes": ["a", "b"][: i % 3],
            "created_at": f"2021-0{i + 1}-01T12:00:00.250000+00:00",
            "password_hash": make(PASSWORD),
        }
        for i, make in enumerate(
            [MAKERS["bcrypt-2b"], MAKERS["argon2i-small"], MAKERS["bcrypt-2a"]]
        )
    ]
    assert (
        authgate(
            server_env(first), "users", "import", str(write_jsonl(tmp_path / "in.jsonl", records))
        ).returncode
        == 0
    )
    out = tmp_path / "out.jsonl"
    done = authgate(server_env(first), "users", "export", "--with-hashes", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"exported 3 users to {out}\n"
    assert out.stat().st_mode & 0o077 == 0  # hashes: the owner only
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert exported == records
    # Without --with-hashes, no hash leaves; to stdout.
    plain = authgate(server_env(first), "users", "export")
    assert [json.loads(line) for line in plain.stdout.splitlines()] == [
        {k: v for k, v in r.items() if k != "password_hash"} for r in records
    ]
    # Into another database, and out again: the same records.
    assert authgate(server_env(second), "users", "import", str(out)).returncode == 0
    again = authgate(server_env(second), "users", "export", "--with-hashes")
    assert [json.loads(line) for line in again.stdout.splitlines()] == records


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_on_a_pipe(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server()
    legacy = MAKERS["bcrypt-2b"](PASSWORD)
    path = write_jsonl(
        tmp_path / "u.jsonl", [{"username": f"p{i}", "password_hash": legacy} for i in range(30)]
    )
    piped = authgate(server_env(server), "users", "import", str(path), "--batch-size", "10")
    assert piped.returncode == 0
    assert "\r" not in piped.stderr
    assert "#" not in piped.stderr
    main, tty = pty.openpty()
    try:
        on_tty = subprocess.run(
            [str(AUTHGATE), "users", "import", str(path), "--batch-size", "10", "--update"],
            env=server_env(server),
            stdout=subprocess.PIPE,
            stderr=tty,
            timeout=120,
            check=False,
        )
        os.close(tty)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: everything has been read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    assert on_tty.returncode == 0
    assert b"\r[" in shown
    assert b"100% 30 records" in shown
