"""``authgate import fastapi-users``: users made by fastapi-users' OWN code (its
``PasswordHelper``, its SQLAlchemy tables from fastapi-users-db-sqlalchemy, UUID and
integer ids) in a virtualenv of their own, imported, then signed in over HTTP with
their original passwords; afterwards the stored hash is authgate's Argon2id.

fastapi-users pins ``pwdlib==0.3.0`` and ``email-validator<2.4``, so it cannot share
the project's ``.venv``: the test builds ``.venv-fastapi-users`` next to the repository
once (from PyPI; ``.gitignore``\\ d) and reuses it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from authgate.service import AuthService
from authgate.store.schema import users
from imports.conftest import authgate, server_env
from races.conftest import PASSWORD, WRONG_PASSWORD, ServerFactory, bearer, login

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-fastapi-users"
PINS = ["fastapi-users[sqlalchemy]==15.0.5", "aiosqlite"]
OWN = re.compile(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$")

#: Run in .venv-fastapi-users: fastapi-users' own tables and password helper.
MAKE_USERS = r"""
import asyncio, json, sys
from fastapi_users.password import PasswordHelper
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTable, SQLAlchemyBaseUserTableUUID
from pwdlib import PasswordHash
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import Integer, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class User(SQLAlchemyBaseUserTableUUID, Base):
    pass

class IntUser(SQLAlchemyBaseUserTable[int], Base):
    __tablename__ = "int_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)

async def main(path, password):
    helper = PasswordHelper()  # fastapi-users' default: pwdlib Argon2id, then bcrypt
    old = PasswordHelper(PasswordHash((BcryptHasher(),)))  # passlib-era bcrypt accounts
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    from sqlalchemy.ext.asyncio import async_sessionmaker
    async with async_sessionmaker(engine)() as session:
        session.add_all([
            User(email="alice@example.com", hashed_password=helper.hash(password),
                 is_active=True, is_superuser=False, is_verified=True),
            User(email="root@example.com", hashed_password=helper.hash(password),
                 is_active=True, is_superuser=True, is_verified=False),
            User(email="old@example.com", hashed_password=old.hash(password),
                 is_active=True, is_superuser=False, is_verified=False),
            User(email="gone@example.com", hashed_password=helper.hash(password),
                 is_active=False, is_superuser=False, is_verified=True),
            IntUser(id=7, email="seven@example.com", hashed_password=helper.hash(password),
                    is_active=True, is_superuser=False, is_verified=True),
        ])
        await session.commit()
        # fastapi-users' own check of what it stored, as its login does.
        stored = (await session.scalars(select(User))).all()
        checked = [helper.verify_and_update(password, u.hashed_password)[0] for u in stored]
        print(json.dumps(checked))
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture(scope="session")
def fastapi_users_python() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *PINS], check=True, timeout=900)
        (VENV / ".complete").write_text(" ".join(PINS))
    return python


@pytest.fixture
def fastapi_users_db(fastapi_users_python: Path, tmp_path: Path) -> Path:
    """A SQLite file written by fastapi-users' own code (MAKE_USERS)."""
    source = tmp_path / "fastapi_users.db"
    made = subprocess.run(
        [str(fastapi_users_python), "-c", MAKE_USERS, str(source), PASSWORD],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == [True, True, True, True]  # fastapi-users verifies them
    return source


@pytest.mark.anyio
async def test_fastapi_users_accounts_sign_in_after_import_and_are_rehashed(
    fastapi_users_db: Path, start_server: ServerFactory, database_url: str
) -> None:
    source = fastapi_users_db
    server = start_server(database_url=database_url)
    env = server_env(server)
    url = f"sqlite:///{source}"
    no_scope = authgate(env, "import", "fastapi-users", "--database-url", url)
    assert no_scope.returncode == 1
    # root (rows in id order: UUIDs are random) is named and refused; the rest imported.
    assert re.fullmatch(
        r"error: line [1-4]: id [0-9a-f-]{36}: a superuser, and no --superuser-scope given\n",
        no_scope.stderr,
    ), no_scope.stderr
    done = authgate(
        env, "import", "fastapi-users", "--database-url", url, "--superuser-scope", "admin"
    )
    assert done.returncode == 0, done.stderr
    assert "imported 1, updated 0, skipped 3 existing, refused 0" in done.stdout
    ints = authgate(env, "import", "fastapi-users", "--database-url", url, "--table", "int_user")
    assert ints.returncode == 0, ints.stderr
    assert "imported 1," in ints.stdout
    missing = authgate(env, "import", "fastapi-users", "--database-url", url, "--table", "nope")
    assert missing.stderr == "error: no table 'nope' in that database\n"

    async with server.client() as client:
        for email in ["alice@example.com", "root@example.com", "old@example.com"]:
            assert (await login(client, email, WRONG_PASSWORD)).status_code == 400
            ok = await login(client, email, PASSWORD)
            assert ok.status_code == 200, (email, ok.text)
            me = (await client.get("/users/me", headers=bearer(ok.json()["access_token"]))).json()
            assert me["email"] == email
            assert me["email_verified"] is (email == "alice@example.com")
        root = await login(client, "root@example.com", PASSWORD, scope="admin")
        assert root.json()["scope"] == "admin"
        assert (await login(client, "alice@example.com", PASSWORD, scope="admin")).json()[
            "error"
        ] == "invalid_scope"
        assert (await login(client, "seven@example.com", PASSWORD)).status_code == 200
        assert (await login(client, "gone@example.com", PASSWORD)).status_code == 400

    async def hashes(service: AuthService) -> dict[str, str]:
        async with service.db.engine.connect() as conn:
            rows = await conn.execute(select(users.c.username, users.c.password_hash))
            return {row.username: row.password_hash for row in rows}

    after = server.call(hashes)
    for email in ["alice@example.com", "root@example.com", "old@example.com", "seven@example.com"]:
        assert OWN.match(after[email]), after
    assert after["gone@example.com"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
