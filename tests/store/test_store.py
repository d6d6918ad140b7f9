"""The storage layer: URLs, SQLite settings, migrations, the KEK, failure mapping."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection, func, select, text
from typer.testing import CliRunner

from authgate.cli import app as cli
from authgate.clock import FrozenClock
from authgate.errors import ConfigError, StoreUnavailable, UnsafeKey
from authgate.service import open_service
from authgate.settings import Settings
from authgate.store import create_engine, head_revision, normalize_url, upgrade
from authgate.store.kek import KeyEncryptionKey, load_or_create_kek
from authgate.store.schema import metadata, signing_keys
from authgate.tokens import HMACKey
from service._pg import drop_database, empty_database, fresh_database


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data"}
    values.update(kw)
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
    ],
)
def test_user_urls_are_normalised_to_async_drivers(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "not a url", "oracle://x"])
def test_unsupported_database_urls_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalize_url(bad)


@pytest.mark.anyio
async def test_default_sqlite_file_is_created_in_data_dir_with_wal_and_foreign_keys(
    tmp_path: Path, clock: FrozenClock
) -> None:
    settings = _settings(tmp_path)
    service = await open_service(settings, clock=clock)
    try:
        assert (tmp_path / "data" / "authgate.db").exists()
        async with service.db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 1000
        kek = tmp_path / "data" / "kek.key"
        assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    finally:
        await service.aclose()


def _diff(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migrations_create_exactly_the_schema(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("private_postgres")
        empty_database(url)
    engine = create_engine(normalize_url(url))
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert version == head_revision()
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_two_instances_starting_at_once_on_an_empty_postgres_share_one_key(
    tmp_path: Path, clock: FrozenClock
) -> None:
    with fresh_database() as url:
        settings = _settings(tmp_path, database_url=url)
        a, b = await asyncio.gather(
            open_service(settings, clock=clock), open_service(settings, clock=clock)
        )
        try:
            assert a.keyring.active.kid == b.keyring.active.kid
            async with a.db.engine.connect() as conn:
                count = (
                    await conn.execute(select(func.count()).select_from(signing_keys))
                ).scalar()
            assert count == 1
        finally:
            await a.aclose()
            await b.aclose()


@pytest.mark.anyio
async def test_unreachable_database_is_store_unavailable(
    tmp_path: Path, clock: FrozenClock
) -> None:
    settings = _settings(tmp_path, database_url="postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(StoreUnavailable):
        await open_service(settings, clock=clock)


@pytest.mark.anyio
async def test_service_reports_not_ready_when_the_database_goes_away(
    tmp_path: Path, clock: FrozenClock
) -> None:
    with fresh_database() as url:
        service = await open_service(_settings(tmp_path, database_url=url), clock=clock)
        try:
            assert await service.ready()
            drop_database(url)  # kills the pooled connections too
            assert not await service.ready()
            with pytest.raises(StoreUnavailable):
                await service.list_users()
            with pytest.raises(StoreUnavailable):
                await service.register("alice", "wobbly-lantern-orchid-73")
        finally:
            await service.aclose()


def test_kek_file_is_created_private_and_refused_when_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    kek = load_or_create_kek(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = kek.seal(b"secret", b"kid")
    assert load_or_create_kek(path).open(sealed, b"kid") == b"secret"
    with pytest.raises(UnsafeKey):
        load_or_create_kek(path).open(sealed, b"other-kid")  # the kid is bound in
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError):
        load_or_create_kek(path)


def test_kek_subkeys_are_stable_per_purpose_and_independent() -> None:
    """HKDF subkeys (RFC 5869): the same KEK and purpose give the same key (a later
    import matches an earlier import's MACs); another purpose or another KEK gives
    another; none is the KEK itself."""
    raw = bytes(range(32))
    kek = KeyEncryptionKey(raw)
    mac_key = kek.subkey(b"authgate-imported-hash-mac")
    assert len(mac_key) == 32
    assert KeyEncryptionKey(raw).subkey(b"authgate-imported-hash-mac") == mac_key
    assert kek.subkey(b"another purpose") != mac_key
    assert KeyEncryptionKey(bytes(32)).subkey(b"authgate-imported-hash-mac") != mac_key
    assert raw not in {mac_key, kek.subkey(b"another purpose")}


def test_short_kek_passphrases_are_refused() -> None:
    with pytest.raises(ConfigError):
        KeyEncryptionKey.from_text("too-short")


@pytest.mark.anyio
async def test_wrong_kek_cannot_open_the_stored_keys(tmp_path: Path, clock: FrozenClock) -> None:
    service = await open_service(_settings(tmp_path), clock=clock)
    await service.aclose()
    other = _settings(tmp_path, key_encryption_key="a-completely-different-kek-passphrase-42")
    with pytest.raises(UnsafeKey):
        await open_service(other, clock=clock)


@pytest.mark.anyio
async def test_first_key_comes_from_the_configured_pem_file(
    tmp_path: Path, clock: FrozenClock
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "signing.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings = _settings(tmp_path, signing_algorithm="ES256", signing_key_file=pem)
    service = await open_service(settings, clock=clock)
    try:
        key = service.keyring.active
        assert key.alg == "ES256"
        assert key.public_jwk()["x"] == service.keyring.jwks()["keys"][0]["x"]
    finally:
        await service.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("secret", ["changeme-changeme-changeme-changeme!", "ab" * 16 + "c"])
async def test_placeholder_hmac_secret_stops_startup_outside_production(
    tmp_path: Path, clock: FrozenClock, secret: str
) -> None:
    """SECURITY.md #11/#44: refused at key load, not only by the production check."""
    settings = _settings(tmp_path, signing_algorithm="HS256", secret_key=secret)
    assert settings.production is False
    with pytest.raises(UnsafeKey):
        await open_service(settings, clock=clock)


@pytest.mark.anyio
async def test_hmac_key_comes_from_secret_key(tmp_path: Path, clock: FrozenClock) -> None:
    secret = "k" * 8 + os.urandom(24).hex()
    settings = _settings(tmp_path, signing_algorithm="HS256", secret_key=secret)
    service = await open_service(settings, clock=clock)
    try:
        assert isinstance(service.keyring.active, HMACKey)
        assert service.keyring.active.verify(b"x", HMACKey(secret.encode()).sign(b"x"))
    finally:
        await service.aclose()


def test_cli_db_upgrade_creates_and_reports_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTHGATE_DATA_DIR", str(tmp_path / "cli-data"))
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"to {head_revision()}" in first.output
    again = runner.invoke(cli, ["db", "upgrade"])
    assert "up to date" in again.output
    current = runner.invoke(cli, ["db", "current"])
    assert "up to date" in current.output
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", "mysql://nobody@127.0.0.1/x")
    bad = runner.invoke(cli, ["db", "upgrade"])
    assert bad.exit_code == 1
    assert "Traceback" not in bad.output


def test_a_database_upgraded_by_a_newer_version_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/deploy.md: after `db upgrade`, the previous version cannot start on the
    database; it says why instead of an Alembic traceback."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTHGATE_DATA_DIR", str(tmp_path / "cli-data"))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    db = tmp_path / "cli-data" / "authgate.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with socket.socket() as sock:  # a free port: serve must stop before binding it
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    for command in (["db", "upgrade"], ["serve", "--port", port]):
        done = runner.invoke(cli, command)
        assert done.exit_code == 1, done.output
        assert "Traceback" not in done.output
        lines = done.output.strip().splitlines()
        assert lines[-1].startswith(
            "error: unsafe_config: the database is at revision "
            "9999_from_the_future, which this version"
        ), done.output
    current = runner.invoke(cli, ["db", "current"])
    assert current.exit_code == 0
    assert "newer than this version of authgate knows" in current.output


@pytest.mark.anyio
async def test_in_memory_sqlite_keeps_one_database(tmp_path: Path, clock: FrozenClock) -> None:
    service = await open_service(_settings(tmp_path, database_url="sqlite://"), clock=clock)
    try:
        user = await service.register("zed", "wobbly-lantern-orchid-73")
        assert [u.id for u in await service.list_users()] == [user.id]
    finally:
        await service.aclose()
