"""``authgate users import --update`` cuts off what it changes (SECURITY.md A.4 #33,
A.7 #48, #57), over HTTP against a real server, the real CLI in a process of its
own, on SQLite and PostgreSQL: a record with a new password hash, ``disabled`` or
narrowed scopes ends the account's sessions (refresh → ``invalid_grant``) and its
access tokens (``/users/me`` → 401), exactly as ``users disable`` does; an unchanged
record ends nothing, so a re-run is harmless; refreshes racing the import keep no
token from before it; a new address kills a reset link sent to the old one; with
Redis, the CLI nudges the instances to read the revocation log at once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from authgate.domain import ImportedUser, RevocationEvent
from authgate.service import AuthService
from authgate.service.imports import UserImport
from authgate.store.fanout import channel_for
from authgate.store.protocols import Transaction
from authgate.store.schema import audit_events, users
from imports.conftest import authgate, importer_parts, server_env, write_jsonl
from passwords.legacy_hashes import MAKERS
from races.conftest import (
    PASSWORD,
    RaceServer,
    ServerFactory,
    assert_all_dead,
    bearer,
    heard_of,
    login,
    refresh,
    refreshes_racing,
    register,
)
from recovery._smtp import TestSmtp, token_in
from recovery.conftest import email_settings

#: The password the user set in the old system during the migration window.
MOVED_PASSWORD = "copper-meadow-lantern-41"
NEW_HASH = MAKERS["werkzeug-pbkdf2:sha256"](MOVED_PASSWORD)
#: A password the user sets in authgate after the import.
AUTHGATE_PASSWORD = "violet-harbour-crane-92"
#: The old system's next password for the user, later in the window.
LATER_PASSWORD = "saffron-pillar-otter-57"
LATER_HASH = MAKERS["argon2i-small"](LATER_PASSWORD)


def stored_hash(server: RaceServer, username: str) -> str:
    async def job(service: AuthService) -> str:
        async with service.db.engine.connect() as conn:
            found = await conn.execute(
                select(users.c.password_hash).where(users.c.username == username)
            )
            value: str = found.scalar_one()
            return value

    return server.call(job)


def own_hash(server: RaceServer) -> str:
    """A hash made with the server's own Argon2id parameters: a sign-in keeps it as
    it is (a foreign hash is replaced at the first sign-in, and an update with the
    same file then rightly sees a hash that is not the stored one)."""

    async def job(service: AuthService) -> str:
        return await service.hasher.hash(PASSWORD)

    return server.call(job)


def record(username: str, password_hash: str, **extra: object) -> dict[str, object]:
    return {
        "username": username,
        "email": f"{username}@example.org",
        "email_verified": True,
        "scopes": ["read", "write"],
        "password_hash": password_hash,
        **extra,
    }


def imported_updates(server: RaceServer) -> dict[str, Any]:
    """username -> the detail of its ``user_imported_update`` audit events."""

    async def job(service: AuthService) -> dict[str, Any]:
        async with service.db.engine.connect() as conn:
            rows = await conn.execute(
                select(users.c.username, audit_events.c.detail)
                .join(users, users.c.id == audit_events.c.user_id)
                .where(audit_events.c.event == "user_imported_update")
            )
            found: dict[str, Any] = {}
            for row in rows:
                detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail)
                found.setdefault(row.username, []).append(detail)
            return found

    return server.call(job)


@pytest.mark.anyio
async def test_an_update_with_a_new_hash_a_disable_or_narrowed_scopes_ends_sessions_and_tokens(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    server = start_server(database_url=database_url)
    env = server_env(server)
    names = ("moved", "banned", "narrowed", "widened", "same")
    old = own_hash(server)
    first = write_jsonl(tmp_path / "first.jsonl", [record(name, old) for name in names])
    assert authgate(env, "users", "import", str(first)).returncode == 0
    async with server.client() as client:
        pairs = {}
        for name in names:
            answer = await login(client, name, PASSWORD, scope="read write")
            assert answer.status_code == 200, answer.text
            pairs[name] = answer.json()
        changed = [
            record("moved", NEW_HASH),
            record("banned", old, disabled=True),
            record("narrowed", old, scopes=["read"]),
            record("widened", old, scopes=["read", "write", "admin"]),
            record("same", old),
        ]
        path = write_jsonl(tmp_path / "changed.jsonl", changed)
        dry = authgate(env, "users", "import", str(path), "--update", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run: would import 0, updated 5, skipped 0 existing, refused 0, cut off 3" in (
            dry.stdout
        )
        for pair in pairs.values():  # a dry run ends nothing
            assert (await refresh(client, pair["refresh_token"])).status_code == 200

        # Fresh pairs: the dry run's refreshes rotated the old ones.
        for name in names:
            pairs[name] = (await login(client, name, PASSWORD, scope="read write")).json()
        done = authgate(env, "users", "import", str(path), "--update")
        assert done.returncode == 0, done.stderr
        assert "imported 0, updated 5, skipped 0 existing, refused 0, cut off 3" in done.stdout

        await heard_of(client, pairs["moved"])
        for name in ("moved", "banned", "narrowed"):
            await assert_all_dead(client, [pairs[name]])
        # The accounts left unchanged, or only given more, keep their sessions.
        for name in ("widened", "same"):
            me = await client.get("/users/me", headers=bearer(pairs[name]["access_token"]))
            assert me.status_code == 200, (name, me.text)
            again = await refresh(client, pairs[name]["refresh_token"])
            assert again.status_code == 200, (name, again.text)
            pairs[name] = again.json()

        # What the record says now holds: the new password, not the old one; no login
        # for the disabled account; the narrowed scope is gone.
        assert (await login(client, "moved", PASSWORD)).status_code == 400
        assert (await login(client, "moved", MOVED_PASSWORD)).status_code == 200
        assert (await login(client, "banned", PASSWORD)).status_code == 400
        narrowed = await login(client, "narrowed", PASSWORD, scope="read write")
        assert narrowed.status_code == 200, narrowed.text
        assert narrowed.json()["scope"].split() == ["read"]
        fresh = {
            "moved": (await login(client, "moved", MOVED_PASSWORD)).json(),
            "narrowed": (await login(client, "narrowed", PASSWORD, scope="read")).json(),
        }

        # The same file again: "moved" signed in since, so authgate replaced its
        # imported hash with an Argon2id one. The record brings the hash of the last
        # import (the same keyed MAC), so nothing changed: nobody is cut off, and the
        # Argon2id hash stays (the old system's hash is not put back).
        rerun = authgate(env, "users", "import", str(path), "--update")
        assert rerun.returncode == 0, rerun.stderr
        assert "imported 0, updated 5, skipped 0 existing, refused 0, cut off 0" in rerun.stdout
        assert stored_hash(server, "moved").startswith("$argon2id$")
        await asyncio.sleep(1.0)  # more than the poll interval: a cut-off would have landed
        for pair in [fresh["moved"], fresh["narrowed"], pairs["widened"], pairs["same"]]:
            me = await client.get("/users/me", headers=bearer(pair["access_token"]))
            assert me.status_code == 200, me.text
            again = await refresh(client, pair["refresh_token"])
            assert again.status_code == 200, again.text
            pair.update(again.json())

        # "moved" changes the password in authgate; the unchanged file again must not
        # bring the old one back nor sign the user out.
        by_user = await client.post(
            "/users/me/password",
            headers=bearer(fresh["moved"]["access_token"]),
            json={"current_password": MOVED_PASSWORD, "new_password": AUTHGATE_PASSWORD},
        )
        assert by_user.status_code == 200, by_user.text
        rerun = authgate(env, "users", "import", str(path), "--update")
        assert "imported 0, updated 5, skipped 0 existing, refused 0, cut off 0" in rerun.stdout
        assert (await login(client, "moved", MOVED_PASSWORD)).status_code == 400
        kept = await login(client, "moved", AUTHGATE_PASSWORD)
        assert kept.status_code == 200, kept.text
        # The old system changes it once more: that is a new password, and it wins.
        later = write_jsonl(tmp_path / "later.jsonl", [record("moved", LATER_HASH)])
        done = authgate(env, "users", "import", str(later), "--update")
        assert "imported 0, updated 1, skipped 0 existing, refused 0, cut off 1" in done.stdout
        await heard_of(client, kept.json())
        await assert_all_dead(client, [kept.json()])
        assert (await login(client, "moved", AUTHGATE_PASSWORD)).status_code == 400
        assert (await login(client, "moved", LATER_PASSWORD)).status_code == 200

    # One event per account changed, naming what changed; none for the unchanged runs.
    assert imported_updates(server) == {
        "moved": [{"changed": ["password_hash"], "cut_off": True}] * 2,
        "banned": [{"changed": ["disabled"], "cut_off": True}],
        "narrowed": [{"changed": ["scopes"], "cut_off": True}],
    }


@pytest.mark.anyio
async def test_refreshes_racing_an_update_import_keep_no_token_from_before(
    start_server: ServerFactory, database_url: str, tmp_path: Path
) -> None:
    """20 sessions rotate their refresh tokens in bursts (``asyncio.gather``) while
    the import narrowing the account's scopes runs in another process: once it has
    returned, no token from before it works, and none carries the old scope."""
    server = start_server(database_url=database_url)
    env = server_env(server)
    old = own_hash(server)
    first = write_jsonl(tmp_path / "first.jsonl", [record("racer", old)])
    assert authgate(env, "users", "import", str(first)).returncode == 0
    path = write_jsonl(tmp_path / "narrowed.jsonl", [record("racer", old, scopes=["read"])])
    async with server.client() as client:
        canary = (await login(client, "racer", PASSWORD, scope="read write")).json()
        chains = [(await login(client, "racer", PASSWORD, scope="read write")).json()]
        for _ in range(19):
            chains.append((await login(client, "racer", PASSWORD, scope="read write")).json())
        imported, issued = await refreshes_racing(
            client, chains, lambda: authgate(env, "users", "import", str(path), "--update")
        )
        assert imported.returncode == 0, imported.stderr
        assert "cut off 1" in imported.stdout
        assert len(issued) > len(chains)  # refreshes did succeed during the race

        await heard_of(client, canary)
        for pair in [canary, *issued]:
            await assert_all_dead(client, [pair])
            assert "write" in pair["scope"].split()  # every one of them had the old scope
        fresh = (await login(client, "racer", PASSWORD)).json()
        assert fresh["scope"].split() == ["read"]
        me = await client.get("/users/me", headers=bearer(fresh["access_token"]))
        assert me.status_code == 200, me.text
        again = await refresh(client, fresh["refresh_token"])
        assert again.status_code == 200, again.text
        assert again.json()["scope"].split() == ["read"]


@pytest.mark.anyio
async def test_a_new_address_kills_a_reset_link_sent_to_the_old_one(
    start_server: ServerFactory, smtp: TestSmtp, tmp_path: Path
) -> None:
    server = start_server(email=email_settings(smtp))
    env = server_env(server)
    old = own_hash(server)
    first = write_jsonl(tmp_path / "first.jsonl", [record("mover", old)])
    assert authgate(env, "users", "import", str(first)).returncode == 0
    async with server.client() as client:
        r = await client.post("/auth/password-reset", json={"email": "mover@example.org"})
        assert r.status_code == 202, r.text
        token = token_in(smtp.wait_for("mover@example.org", subject="Reset")[-1])
        moved = [record("mover", old, email="mover@new.example.org", email_verified=False)]
        path = write_jsonl(tmp_path / "moved.jsonl", moved)
        done = authgate(env, "users", "import", str(path), "--update")
        assert done.returncode == 0, done.stderr
        assert "cut off 0" in done.stdout  # an address change alone signs no one out
        body = {"token": token, "new_password": MOVED_PASSWORD}
        r = await client.post("/auth/password-reset/confirm", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"
        assert (await login(client, "mover", MOVED_PASSWORD)).status_code == 400
        ok = await login(client, "mover", PASSWORD)
        assert ok.status_code == 200, ok.text
        me = (await client.get("/users/me", headers=bearer(ok.json()["access_token"]))).json()
        assert (me["email"], me["email_verified"]) == ("mover@new.example.org", False)


@pytest.mark.anyio
async def test_with_redis_the_import_nudges_the_instances_to_read_the_log(
    start_server: ServerFactory, redis_url: str, redis_namespace: str, tmp_path: Path
) -> None:
    """The CLI publishes on the deployment's revocation channel after a batch that cut
    an account off (the body is only a nudge, SECURITY.md A.7 #50), and not after one
    that cut nothing off."""
    server = start_server(redis_url=redis_url, redis_namespace=redis_namespace)
    env = {
        **server_env(server),
        "AUTHGATE_REDIS_URL": redis_url,
        "AUTHGATE_REDIS_NAMESPACE": redis_namespace,
    }
    old = own_hash(server)
    first = write_jsonl(tmp_path / "first.jsonl", [record("nudged", old)])
    assert authgate(env, "users", "import", str(first)).returncode == 0
    listener: Any = aioredis.from_url(redis_url)  # the installed stubs predate aclose()
    pubsub: Any = listener.pubsub()
    await pubsub.subscribe(channel_for(redis_namespace))
    try:
        async with server.client() as client:
            pair = (await login(client, "nudged", PASSWORD)).json()

            async def messages() -> int:
                count = 0
                while (found := await pubsub.get_message(True, timeout=0.5)) is not None:
                    count += found["type"] == "message"
                return count

            await messages()  # nothing before
            same = authgate(env, "users", "import", str(first), "--update")
            assert "cut off 0" in same.stdout, same.stderr
            assert await messages() == 0
            path = write_jsonl(tmp_path / "off.jsonl", [record("nudged", old, disabled=True)])
            done = authgate(env, "users", "import", str(path), "--update")
            assert "cut off 1" in done.stdout, done.stderr
            assert await messages() == 1
            await heard_of(client, pair)
            await assert_all_dead(client, [pair])
    finally:
        await pubsub.aclose()
        await listener.aclose()


class ResetDuringImport(UserImport):
    """An ``--update`` batch that, after moving the address and killing the links sent
    to the old one but before it commits, lets a real reset request for the OLD
    address in over HTTP: the request reads the account as it was (the move is not
    committed) and writes its token after the batch commits."""

    def __init__(self, server: RaceServer, old_address: str) -> None:
        super().__init__(**importer_parts(server), update=True, dry_run=False)
        self.server, self.old_address = server, old_address
        self.request: asyncio.Task[httpx.Response] | None = None

    async def _upsert(
        self, tx: Transaction, kept: list[ImportedUser]
    ) -> tuple[tuple[int, int], int, list[RevocationEvent]]:
        done = await super()._upsert(tx, kept)

        async def reset() -> httpx.Response:
            async with self.server.client() as client:
                return await client.post("/auth/password-reset", json={"email": self.old_address})

        self.request = asyncio.create_task(reset())
        await asyncio.sleep(0.5)  # the request's lookup runs; its write waits for ours
        return done


@pytest.mark.anyio
async def test_a_reset_request_that_read_the_old_address_mails_a_dead_link(
    start_server: ServerFactory, database_url: str, smtp: TestSmtp, tmp_path: Path
) -> None:
    """SECURITY.md A.7 #57: a reset link works only while the account still has the
    address it was sent to, whatever the order of the request's read, the move and
    the request's write (found by review: the link used to reset the password)."""
    server = start_server(database_url=database_url, email=email_settings(smtp))
    env = server_env(server)
    old = own_hash(server)
    first = write_jsonl(tmp_path / "first.jsonl", [record("stale", old)])
    assert authgate(env, "users", "import", str(first)).returncode == 0
    moved = record("stale", old, email="stale@new.example.org")

    async def job(service: AuthService) -> httpx.Response:
        importer = ResetDuringImport(server, "stale@example.org")
        result = await importer.batch([(1, moved)], now=0.0)
        assert (result.updated, result.refused) == (1, [])
        assert importer.request is not None
        return await importer.request

    answer = server.call(job)
    assert answer.status_code == 202, answer.text
    token = token_in(smtp.wait_for("stale@example.org", subject="Reset")[-1])
    async with server.client() as client:
        body = {"token": token, "new_password": MOVED_PASSWORD}
        r = await client.post("/auth/password-reset/confirm", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_grant"
        assert (await login(client, "stale", PASSWORD)).status_code == 200


#: The old system's hash of MOVED_PASSWORD in a fast format (authgate upgrades it).
FAST_HASH = MAKERS["argon2i-small"](MOVED_PASSWORD)


def erase_mac(server: RaceServer, username: str) -> None:
    """As an account imported before the MAC existed (migration 0008) stands."""

    async def job(service: AuthService) -> None:
        async with service.db.engine.begin() as conn:
            await conn.execute(
                users.update().where(users.c.username == username).values(imported_hash_mac=None)
            )

    server.call(job)


@pytest.mark.anyio
async def test_an_unchanged_record_keeps_a_password_changed_or_reset_in_authgate(
    start_server: ServerFactory, database_url: str, smtp: TestSmtp, tmp_path: Path
) -> None:
    """The old system's unchanged hash never comes back over a password the user
    changed or reset in authgate, and signs nobody out, in a dry run's count too. An
    account without a stored MAC (imported before it existed) cannot be told apart:
    its upgraded hash is compared, differs, and the account is cut off (fail closed)."""
    server = start_server(database_url=database_url, email=email_settings(smtp))
    env = server_env(server)
    names = ("changer", "resetter", "premac")
    path = write_jsonl(tmp_path / "old.jsonl", [record(name, FAST_HASH) for name in names])
    assert authgate(env, "users", "import", str(path)).returncode == 0
    async with server.client() as client:
        first = (await login(client, "changer", MOVED_PASSWORD)).json()
        changed = await client.post(
            "/users/me/password",
            headers=bearer(first["access_token"]),
            json={"current_password": MOVED_PASSWORD, "new_password": AUTHGATE_PASSWORD},
        )
        assert changed.status_code == 200, changed.text
        r = await client.post("/auth/password-reset", json={"email": "resetter@example.org"})
        assert r.status_code == 202, r.text
        token = token_in(smtp.wait_for("resetter@example.org", subject="Reset")[-1])
        body = {"token": token, "new_password": AUTHGATE_PASSWORD}
        reset = await client.post("/auth/password-reset/confirm", json=body)
        assert reset.status_code == 204, reset.text
        pairs = {
            "changer": changed.json(),
            "resetter": (await login(client, "resetter", AUTHGATE_PASSWORD)).json(),
            "premac": (await login(client, "premac", MOVED_PASSWORD)).json(),  # upgraded
        }
        erase_mac(server, "premac")

        dry = authgate(env, "users", "import", str(path), "--update", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "would import 0, updated 3, skipped 0 existing, refused 0, cut off 1" in dry.stdout
        done = authgate(env, "users", "import", str(path), "--update")
        assert done.returncode == 0, done.stderr
        assert "imported 0, updated 3, skipped 0 existing, refused 0, cut off 1" in done.stdout

        await heard_of(client, pairs["premac"])
        await assert_all_dead(client, [pairs["premac"]])
        for name in ("changer", "resetter"):
            me = await client.get("/users/me", headers=bearer(pairs[name]["access_token"]))
            assert me.status_code == 200, (name, me.text)
            assert (await login(client, name, MOVED_PASSWORD)).status_code == 400, name
            assert (await login(client, name, AUTHGATE_PASSWORD)).status_code == 200, name
        # The record's hash was put back over the upgraded one: the old system's password.
        assert (await login(client, "premac", MOVED_PASSWORD)).status_code == 200


def test_an_import_under_another_key_encryption_key_is_refused_in_one_line(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """The MACs' key is the server's KEK's: an import run with another KEK, or with
    none beside a database that has signing keys, would write MACs no later import
    could match. It is refused before anything is read or written."""
    server = start_server()
    path = write_jsonl(tmp_path / "u.jsonl", [record("nobody", FAST_HASH)])
    other = {**server_env(server), "AUTHGATE_KEY_ENCRYPTION_KEY": "x" * 40}
    none = {k: v for k, v in server_env(server).items() if k != "AUTHGATE_KEY_ENCRYPTION_KEY"}
    for env, reason in (
        (other, "a stored signing key cannot be decrypted: wrong key-encryption key?"),
        (none, "no key-encryption key here"),
    ):
        for args in ((), ("--update",), ("--dry-run",)):
            done = authgate(env, "users", "import", str(path), *args)
            assert done.returncode == 1, done.stderr
            assert "Traceback" not in done.stderr, done.stderr
            [line] = done.stderr.strip().splitlines()
            assert line.startswith("error: "), line
            assert reason in line, line
    assert not (Path(none["AUTHGATE_DATA_DIR"]) / "kek.key").exists()  # none was created
    assert authgate(server_env(server), "users", "import", str(path)).returncode == 0


class _RegisterAfterRead:
    """``tx.bulk_users`` whose first ``stored()`` lets a registration of ``username``
    (and its login) in over HTTP after the read: the window between the read of the
    stored accounts and the upsert."""

    def __init__(self, bulk: Any, server: RaceServer, username: str) -> None:
        self._bulk, self.server, self.username = bulk, server, username
        self.pair: dict[str, Any] = {}

    async def stored(self, keys: Any) -> Any:
        found = await self._bulk.stored(keys)
        async with self.server.client() as client:
            await register(client, self.username)
            self.pair = (await login(client, self.username)).json()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bulk, name)


class _WithBulk:
    def __init__(self, tx: Transaction, bulk: _RegisterAfterRead) -> None:
        self._tx, self.bulk_users = tx, bulk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


class RegisteringUpdate(UserImport):
    """An ``--update`` batch whose first attempt meets a registration of one of its
    usernames after it read the stored accounts (PostgreSQL: nothing locked it)."""

    def __init__(self, server: RaceServer, username: str) -> None:
        super().__init__(**importer_parts(server), update=True, dry_run=False)
        self.hook: _RegisterAfterRead | None = None
        self.server, self.username = server, username

    async def _upsert(
        self, tx: Transaction, kept: list[ImportedUser]
    ) -> tuple[tuple[int, int], int, list[RevocationEvent]]:
        if self.hook is None:  # the first attempt only
            self.hook = _RegisterAfterRead(tx.bulk_users, self.server, self.username)
            tx = cast(Transaction, _WithBulk(tx, self.hook))
        return await super()._upsert(tx, kept)


@pytest.mark.anyio
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_an_account_registered_under_a_batch_username_mid_update_is_cut_off(
    start_server: ServerFactory, database_url: str
) -> None:
    """The upsert would overwrite an account registered after the batch read the
    stored ones without comparing it: the batch rolls back and is written again,
    and the registrant's session ends with the password it replaced."""
    server = start_server(database_url=database_url)
    batch: list[tuple[int, dict[str, object] | str]] = [(1, record("late", NEW_HASH))]

    async def job(service: AuthService) -> tuple[Any, dict[str, Any]]:
        importer = RegisteringUpdate(server, "late")
        result = await importer.batch(batch, now=0.0)
        assert importer.hook is not None
        return result, importer.hook.pair

    result, pair = server.call(job)
    assert pair["access_token"]  # the registrant signed in inside the window
    assert (result.inserted, result.updated, result.cut_off) == (0, 1, 1)
    async with server.client() as client:
        await assert_all_dead(client, [pair])
        assert (await login(client, "late", PASSWORD)).status_code == 400
        assert (await login(client, "late", MOVED_PASSWORD)).status_code == 200
