"""``authgate users import``: accounts from another system keep their passwords
(signed in over HTTP, then stored as Argon2id), refused records are named one line
each, re-runs skip or update, dry runs write nothing (SECURITY.md A.7 #54)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from authgate.service import AuthService
from authgate.store.schema import users
from imports.conftest import authgate, server_env, write_jsonl
from passwords.legacy_hashes import MAKERS
from races.conftest import PASSWORD, WRONG_PASSWORD, RaceServer, ServerFactory, bearer, login

OWN = re.compile(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$")


def hashes_by_username(server: RaceServer) -> dict[str, str]:
    async def job(service: AuthService) -> dict[str, str]:
        async with service.db.engine.connect() as conn:
            rows = await conn.execute(select(users.c.username, users.c.password_hash))
            return {row.username: row.password_hash for row in rows}

    return server.call(job)


def records() -> list[dict[str, object]]:
    made: list[dict[str, object]] = [
        {
            "username": f"user-{i}",
            "email": f"User.{i}@Example.ORG",
            "email_verified": i % 2 == 0,
            "scopes": ["read", "write"] if i == 0 else "read",
            "created_at": "2019-05-06T07:08:09Z",
            "password_hash": make(PASSWORD),
        }
        for i, make in enumerate(MAKERS.values())
    ]
    made.append({"username": "gone", "password_hash": made[0]["password_hash"], "disabled": True})
    return made


@pytest.mark.anyio
async def test_imported_accounts_sign_in_with_their_old_passwords_and_are_rehashed(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url=database_url)
    good = records()
    bad = [
        {"username": "md5-user", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"},
        '{"username": "broken", ',
        {"username": "bad scope", "password_hash": good[0]["password_hash"]},
        {"username": "s", "password_hash": good[0]["password_hash"], "scopes": ["ok", "b\\ad"]},
        {"username": "e", "password_hash": good[0]["password_hash"], "email": "not an address"},
        {"username": "x", "password_hash": "pbkdf2_sha256$99000000$salt$" + "A" * 43 + "="},
        # Another batch's user-0 (usernames are case-insensitive): skipped as existing.
        {"username": "USER-0", "password_hash": good[0]["password_hash"]},
    ]
    # The refused records sit between good ones, in the same batches.
    lines = [*good[:3], *bad, *good[3:]]
    path = write_jsonl(tmp_path / "users.jsonl", lines)
    done = authgate(server_env(server), "users", "import", str(path), "--batch-size", "4")
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: line 4: password_hash: unknown password hash format",
        "error: line 5: not valid JSON",
        "error: line 6: username: username must not contain spaces or control characters",
        "error: line 7: scopes: not valid scope strings (RFC 6749 §3.3)",
        f"error: line 8: {errors[4].split(': ', 2)[2]}",
        "error: line 9: password_hash: iterations outside 1..3000000",
    ], done.stderr
    assert errors[4].startswith("error: line 8: email: ")
    assert f"imported {len(good)}, updated 0, skipped 1 existing, refused 6" in done.stdout
    assert "Traceback" not in done.stderr

    async with server.client() as client:
        for record in good[:-1]:
            name = str(record["username"])
            assert (await login(client, name, WRONG_PASSWORD)).status_code == 400
            ok = await login(client, name, PASSWORD, scope="read")
            assert ok.status_code == 200, (name, ok.text)
            me = (await client.get("/users/me", headers=bearer(ok.json()["access_token"]))).json()
            assert me["email"] == str(record["email"]).replace("Example.ORG", "example.org")
            assert me["email_verified"] is record["email_verified"]
        disabled = await login(client, "gone", PASSWORD)
        assert disabled.status_code == 400
    stored = hashes_by_username(server)
    assert all(OWN.match(stored[str(r["username"])]) for r in good[:-1]), stored
    assert stored["gone"] == good[-1]["password_hash"]  # never signed in: kept as imported


@pytest.mark.anyio
async def test_a_rerun_skips_existing_accounts_and_update_replaces_them(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server()
    env = server_env(server)
    first = records()[:3]
    path = write_jsonl(tmp_path / "users.jsonl", first)
    assert authgate(env, "users", "import", str(path)).returncode == 0
    again = authgate(env, "users", "import", str(path))
    assert again.returncode == 0, again.stderr
    assert "imported 0, updated 0, skipped 3 existing, refused 0" in again.stdout
    changed = [{**first[0], "scopes": ["admin"], "disabled": True}, records()[4]]
    path = write_jsonl(tmp_path / "changed.jsonl", changed)
    dry = authgate(env, "users", "import", str(path), "--update", "--dry-run")
    assert "dry run: would import 1, updated 1, skipped 0 existing, refused 0" in dry.stdout
    async with server.client() as client:
        assert (await login(client, "user-4", PASSWORD)).status_code == 400  # not written
        assert (await login(client, "user-0", PASSWORD, scope="admin")).status_code == 400
        updated = authgate(env, "users", "import", str(path), "--update")
        assert "imported 1, updated 1, skipped 0 existing, refused 0" in updated.stdout
        assert (await login(client, "user-4", PASSWORD)).status_code == 200
        assert (await login(client, "user-0", PASSWORD)).status_code == 400  # now disabled


@pytest.mark.anyio
async def test_csv_import_reads_quoted_fields_and_space_separated_scopes(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server()
    legacy = MAKERS["werkzeug-pbkdf2:sha256"](PASSWORD)
    path = tmp_path / "users.csv"
    path.write_text(
        "username,email,email_verified,disabled,scopes,created_at,password_hash\n"
        f'carol,carol@example.com,true,false,"read write",1577836800,{legacy}\n'
        f"Carol,,,,,,{legacy}\n"
        f"dave,,0,no,,,{legacy}\n"
        f"erin,erin@example.com,maybe,false,,,{legacy}\n"
        "frank,too,few\n",
        encoding="utf-8",
    )
    done = authgate(server_env(server), "users", "import", str(path), "--format", "csv")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: line 3: username 'Carol' repeats line 2",
        "error: line 5: email_verified: not a boolean",
        "error: line 6: 3 fields, the header has 7",
    ]
    async with server.client() as client:
        ok = await login(client, "carol", PASSWORD, scope="write")
        assert ok.status_code == 200
        assert ok.json()["scope"] == "write"
        assert (await login(client, "dave", PASSWORD)).status_code == 200


@pytest.mark.anyio
async def test_concurrent_imports_of_one_file_write_each_account_once(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url=database_url)
    legacy = MAKERS["bcrypt-2b"](PASSWORD)
    many = [{"username": f"u{i}", "password_hash": legacy} for i in range(300)]
    path = write_jsonl(tmp_path / "users.jsonl", many)
    env = server_env(server)
    runs = await asyncio.gather(
        *[
            asyncio.to_thread(authgate, env, "users", "import", str(path), "--batch-size", "50")
            for _ in range(3)
        ]
    )
    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    imported = [int(re.findall(r"imported (\d+)", run.stdout)[0]) for run in runs]
    assert sum(imported) == 300, [run.stdout for run in runs]
    assert len(hashes_by_username(server)) == 300
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await login(client, "u299", PASSWORD)).status_code == 200


def test_an_unreadable_file_is_one_line(tmp_path: Path, start_server: ServerFactory) -> None:
    server = start_server()
    done = authgate(server_env(server), "users", "import", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 1
    assert done.stderr == f"error: cannot read {tmp_path / 'nope.jsonl'}: no such file\n"
