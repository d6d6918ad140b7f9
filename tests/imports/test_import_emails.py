"""An imported address belongs to one account, as a registered one does
(``users.email_key``): the real ``authgate users import`` refuses, one line each, an
address that repeats an earlier record or belongs to another account (in any case or
IDN form, also with ``--update``), never with a traceback; a concurrent registration
of the address ends in a clean refusal; under ``require_verified_email`` a record
without an address is refused, as a registration without one is; and an imported user
with a verified address resets the password by email (a real SMTP server) and signs in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from authgate.domain import ImportedUser
from authgate.service import AuthService
from authgate.service.imports import BatchResult, Plan, UserImport
from authgate.store.protocols import Transaction
from authgate.store.schema import users
from imports.conftest import authgate, importer_parts, server_env, write_jsonl
from passwords.legacy_hashes import MAKERS
from races.conftest import PASSWORD, RaceServer, ServerFactory, login
from recovery._smtp import TestSmtp, token_in
from recovery.conftest import email_settings

NEW_PASSWORD = "quiet-harbour-falcon-58"


def record(username: str, email: str | None, **extra: object) -> dict[str, object]:
    return {
        "username": username,
        "email": email,
        "password_hash": MAKERS["werkzeug-pbkdf2:sha256"](PASSWORD),
        **extra,
    }


def addresses(server: RaceServer) -> dict[str, tuple[str | None, str | None]]:
    """username -> (email, email_key) as stored."""

    async def job(service: AuthService) -> dict[str, tuple[str | None, str | None]]:
        async with service.db.engine.connect() as conn:
            rows = await conn.execute(select(users.c.username, users.c.email, users.c.email_key))
            return {row.username: (row.email, row.email_key) for row in rows}

    return server.call(job)


def errors_of(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.anyio
async def test_an_address_repeated_in_a_file_in_any_case_or_idn_form_is_refused(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url=database_url)
    lines = [
        record("ann", "Ann@Example.ORG"),
        record("bob", "ann@example.org"),  # the same address, another case
        record("cid", "cid@bücher.example"),
        record("dan", "Cid@XN--BCHER-KVA.example"),  # the same, its ASCII form (next batch)
        record("eve", "eve@example.org"),
        record("ANN", "ann@EXAMPLE.org"),  # ann again: the username's repeat, not the address's
        record("fay", "ANN@example.org"),  # a later batch
    ]
    path = write_jsonl(tmp_path / "users.jsonl", lines)
    done = authgate(server_env(server), "users", "import", str(path), "--batch-size", "3")
    assert done.returncode == 1, done.stderr
    # Within a batch the earlier line is named; an earlier batch is already in the
    # database (the run keeps no map of every address: its memory stays flat).
    assert errors_of(done.stderr) == [
        "error: line 2: email 'ann@example.org' repeats line 1",
        "error: line 4: email 'Cid@bücher.example' is taken",
        "error: line 7: email 'ANN@example.org' is taken",
    ], done.stderr
    assert "imported 3, updated 0, skipped 1 existing, refused 3" in done.stdout
    stored = addresses(server)
    assert stored == {
        "ann": ("Ann@example.org", "ann@example.org"),
        "cid": ("cid@bücher.example", "cid@xn--bcher-kva.example"),
        "eve": ("eve@example.org", "eve@example.org"),
    }


@pytest.mark.anyio
async def test_an_address_registered_over_http_is_refused_at_import_and_at_update(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url=database_url)
    env = server_env(server)
    async with server.client() as client:
        r = await client.post(
            "/users",
            json={"username": "reg", "password": PASSWORD, "email": "Reg.User@Example.org"},
        )
        assert r.status_code == 201, r.text
    first = [
        record("imp", "imp@example.org"),
        record("thief", "REG.USER@example.ORG"),
        # reg itself, existing: skipped (nothing written), so nothing to refuse.
        record("reg", "someone.else@example.org"),
    ]
    path = write_jsonl(tmp_path / "first.jsonl", first)
    for dry in (["--dry-run"], []):
        done = authgate(env, "users", "import", str(path), *dry)
        assert done.returncode == 1, done.stderr
        assert errors_of(done.stderr) == ["error: line 2: email 'REG.USER@example.org' is taken"]
        assert "import 1, updated 0, skipped 1 existing, refused 1" in done.stdout.replace(
            "imported", "import"
        )
    # --update may not move an address onto another account, in one batch with good rows.
    moves = [
        record("imp", "Reg.User@EXAMPLE.org"),
        record("new", "new@example.org"),
        record("reg", "reg.user@example.org", email_verified=True),  # its own: fine
    ]
    path = write_jsonl(tmp_path / "moves.jsonl", moves)
    done = authgate(env, "users", "import", str(path), "--update")
    assert done.returncode == 1, done.stderr
    assert errors_of(done.stderr) == ["error: line 1: email 'Reg.User@example.org' is taken"]
    assert "imported 1, updated 1, skipped 0 existing, refused 1" in done.stdout
    stored = addresses(server)
    assert stored["imp"] == ("imp@example.org", "imp@example.org")
    assert stored["reg"] == ("reg.user@example.org", "reg.user@example.org")
    assert stored["new"] == ("new@example.org", "new@example.org")
    assert "thief" not in stored
    # An update that moves an account to a free address frees its old one.
    path = write_jsonl(tmp_path / "free.jsonl", [record("imp", "imp2@example.org")])
    assert authgate(env, "users", "import", str(path), "--update").returncode == 0
    path = write_jsonl(tmp_path / "reuse.jsonl", [record("late", "IMP@example.org")])
    done = authgate(env, "users", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert addresses(server)["late"] == ("IMP@example.org", "imp@example.org")


class RegisteringImport(UserImport):
    """An import whose first address check is followed, before its insert, by a real
    registration of one of the batch's addresses over HTTP (the race's window)."""

    def __init__(self, server: RaceServer, address: str, *, update: bool, dry_run: bool) -> None:
        super().__init__(**importer_parts(server), update=update, dry_run=dry_run)
        self.server, self.address, self.checks = server, address, 0

    async def _plan(self, tx: Transaction, rows: list[ImportedUser], result: BatchResult) -> Plan:
        plan = await super()._plan(tx, rows, result)
        self.checks += 1
        if self.checks == 1:
            async with self.server.client() as client:
                body = {"username": "racer", "password": PASSWORD, "email": self.address}
                r = await client.post("/users", json=body)
                assert r.status_code == 201, r.text
        return plan


@pytest.mark.anyio
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_registration_racing_the_import_for_an_address_ends_in_a_clean_refusal(
    start_server: ServerFactory, database_url: str
) -> None:
    # PostgreSQL: the registration commits while the import's transaction is open
    # (SQLite's writers queue one behind the other, so no such window there).
    server = start_server(database_url=database_url)
    batch: Sequence[tuple[int, dict[str, object]]] = [
        (1, record("one", "one@example.org")),
        (2, record("two", "Race@Example.org")),
        (3, record("three", "three@example.org")),
    ]

    async def job(service: AuthService) -> tuple[BatchResult, int]:
        importer = RegisteringImport(server, "race@example.org", update=False, dry_run=False)
        result = await importer.batch(batch, now=0.0)
        return result, importer.checks

    result, checks = server.call(job)
    assert checks == 2  # the unique index refused the insert; checked again, then written
    assert result.refused == [(2, "email 'Race@example.org' is taken")]
    assert (result.inserted, result.updated, result.skipped) == (2, 0, 0)
    stored = addresses(server)
    assert stored["racer"] == ("race@example.org", "race@example.org")
    assert "two" not in stored
    assert {"one", "three"} <= set(stored)


@pytest.mark.anyio
async def test_an_imported_user_with_a_verified_address_resets_the_password_by_email(
    start_server: ServerFactory, smtp: TestSmtp, tmp_path: Path
) -> None:
    server = start_server(email=email_settings(smtp))
    lines = [record("moved", "Moved.User@Example.ORG", email_verified=True)]
    path = write_jsonl(tmp_path / "users.jsonl", lines)
    done = authgate(server_env(server), "users", "import", str(path))
    assert done.returncode == 0, done.stderr
    async with server.client() as client:
        r = await client.post("/auth/password-reset", json={"email": "moved.user@example.org"})
        assert r.status_code == 202, r.text
        token = token_in(smtp.wait_for("Moved.User@example.org", subject="Reset")[-1])
        r = await client.post(
            "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert r.status_code == 204, r.text
        assert (await login(client, "moved", PASSWORD)).status_code == 400
        assert (await login(client, "moved", NEW_PASSWORD)).status_code == 200


@pytest.mark.anyio
async def test_under_require_verified_email_a_record_without_an_address_is_refused(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url=database_url, require_verified_email=True)
    env = {**server_env(server), "AUTHGATE_REQUIRE_VERIFIED_EMAIL": "true"}
    lines = [
        record("ann", "ann@example.org", email_verified=True),
        record("bob", None),
        record("cid", "cid@example.org"),
        record("dan", ""),
    ]
    done = authgate(env, "users", "import", str(write_jsonl(tmp_path / "u.jsonl", lines)))
    assert done.returncode == 1, done.stderr
    assert errors_of(done.stderr) == [
        "error: line 2: email: required when addresses must be verified",
        "error: line 4: email: required when addresses must be verified",
    ]
    assert "imported 2, updated 0, skipped 0 existing, refused 2" in done.stdout
    # --update cannot take an account's address away either.
    gone = write_jsonl(tmp_path / "gone.jsonl", [record("ann", None, email_verified=True)])
    update = authgate(env, "users", "import", str(gone), "--update")
    assert update.returncode == 1, update.stderr
    assert errors_of(update.stderr) == [
        "error: line 1: email: required when addresses must be verified"
    ]
    assert addresses(server) == {
        "ann": ("ann@example.org", "ann@example.org"),
        "cid": ("cid@example.org", "cid@example.org"),
    }
    async with server.client() as client:
        assert (await login(client, "ann")).status_code == 200
        unverified = await login(client, "cid")
        assert unverified.status_code == 400, unverified.text  # verifies first, then signs in
        assert unverified.json() == {
            "error": "invalid_grant",
            "error_description": "verify the account's email address before signing in",
        }
        assert (await login(client, "bob")).status_code == 400  # never imported
