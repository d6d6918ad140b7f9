"""SECURITY.md A.7 #49 over HTTP against real ``authgate serve`` processes: a
configured key is the source of truth, a replaced HMAC secret is retired at once
(its tokens and forgeries → 401), a replaced key file verifies until ``keys retire
KID --now``, a rotated key signs only after it was in the JWK Set for the max-age,
and instances starting at once with a new key end with exactly one active key."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.clock import SystemClock
from authgate.tokens import ACCESS_TOKEN_TYPE, KeyRing, TokenCodec, generate_key, hmac_key

from ._harness import (
    AUTHGATE,
    AuthgateServer,
    bearer,
    fresh_database,
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

ISSUER = "http://127.0.0.1"  # the harness's AUTHGATE_ISSUER
AUDIENCE = "authgate"


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(secret: str, sub: str, *, kid: str | None = None) -> str:
    """A token signed with ``secret``, as whoever holds a leaked secret makes one:
    any subject, any scope, and any ``kid`` in the header."""
    key = hmac_key(secret, "HS256")
    codec = TokenCodec(KeyRing.single(key), issuer=ISSUER, audience=AUDIENCE)
    token = codec.issue(sub=sub, ttl=600, client_id="authgate", scope={"admin"})[0]
    if kid is None:
        return token
    header = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": ACCESS_TOKEN_TYPE}).encode())
    signing_input = f"{header}.{token.split('.')[1]}".encode()
    return f"{signing_input.decode()}.{b64(key.sign(signing_input))}"


def cli(server: AuthgateServer, *args: str) -> subprocess.CompletedProcess[str]:
    """``authgate <args>`` in another process with the server's settings (may fail)."""
    return subprocess.run(
        [str(AUTHGATE), *args], env=server.environment(), capture_output=True, text=True, timeout=60
    )


def user_token(client: httpx.Client, username: str) -> dict[str, Any]:
    assert register(client, username).status_code == 201
    return tokens_of(login(client, username))


def audit_events(data_dir: Path, name: str) -> list[tuple[float, dict[str, Any]]]:
    with sqlite3.connect(data_dir / "authgate.db") as db:
        rows = db.execute("SELECT at, detail FROM audit_events WHERE event = ?", (name,))
        return [(at, json.loads(detail)) for at, detail in rows]


def test_restart_with_a_new_secret_refuses_old_tokens_and_forgeries(tmp_path: Path) -> None:
    old_secret, new_secret = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    server = AuthgateServer(
        tmp_path / "data",
        {"AUTHGATE_SIGNING_ALGORITHM": "HS256", "AUTHGATE_SECRET_KEY": old_secret},
    )
    with running(server), server.client() as client:
        pair = user_token(client, unique("hs"))
        sub = client.get("/users/me", headers=bearer(pair["access_token"])).json()["id"]
        forged = forge(old_secret, sub)
        assert me_status(client, forged) == 200  # what the leaked secret allows today
        old_kid = kid_of(pair["access_token"])

    server.extra_env["AUTHGATE_SECRET_KEY"] = new_secret
    check = cli(server, "check")
    assert check.returncode == 0, check.stderr
    assert f"replaces the active key {old_kid}" in check.stderr
    assert "retired at once" in check.stderr

    with running(server), server.client() as client:
        assert "retired at once" in server.log_tail(20_000)
        new = tokens_of(refresh(client, pair["refresh_token"]))  # opaque rows: unaffected
        new_kid = kid_of(new["access_token"])
        assert new_kid != old_kid
        assert me_status(client, new["access_token"]) == 200
        assert me_status(client, user_token(client, unique("hs"))["access_token"]) == 200
        for token in (
            pair["access_token"],  # issued with the old secret
            forged,  # forged with it, old kid
            forge(old_secret, sub, kid=new_kid),  # forged with it, the new kid
        ):
            assert me_status(client, token) == 401
        assert cli(server, "check").stderr.count("replaces") == 0  # nothing pending now

    # A stale configuration cannot bring the compromised secret back.
    server.extra_env["AUTHGATE_SECRET_KEY"] = old_secret
    check = cli(server, "check")
    assert check.returncode == 1
    assert "retired as compromised" in check.stderr
    with pytest.raises(RuntimeError, match="retired as compromised"):
        server.start(timeout=30)


def test_replaced_key_file_verifies_until_retired_now(tmp_path: Path) -> None:
    first, second = tmp_path / "first.pem", tmp_path / "second.pem"
    first.write_bytes(generate_key("EdDSA").private_pem())
    second.write_bytes(generate_key("EdDSA").private_pem())
    server = AuthgateServer(tmp_path / "data", {"AUTHGATE_SIGNING_KEY_FILE": str(first)})
    with running(server), server.client() as client:
        old = user_token(client, unique("pem"))["access_token"]
    old_kid = kid_of(old)

    server.extra_env["AUTHGATE_SIGNING_KEY_FILE"] = str(second)
    with running(server), server.client() as client:
        assert me_status(client, old) == 200  # verify-only until it expires
        new = user_token(client, unique("pem"))["access_token"]
        assert kid_of(new) != old_kid
        jwks = client.get("/.well-known/jwks.json").json()
        assert old_kid in {k["kid"] for k in jwks["keys"]}
        listed = cli(server, "keys", "list", "--json").stdout.splitlines()
        keys = {k["kid"]: k for k in map(json.loads, listed)}
        assert (keys[old_kid]["alg"], keys[old_kid]["state"]) == ("EdDSA", "retiring")
        assert keys[old_kid]["retires"] is not None

        # CLI errors: one line on stderr, exit 1, no traceback.
        for args in (("keys", "retire", kid_of(new), "--now"), ("keys", "retire", "nope")):
            failed = cli(server, *args)
            assert failed.returncode == 1
            assert failed.stderr.count("\n") == 1
            assert failed.stderr.startswith("error: ")

        # The emergency path after a leak, from another process.
        retired = cli(server, "keys", "retire", old_kid, "--now")
        assert retired.returncode == 0, retired.stderr
        # The running server reloads from the revocation log (bounded wait).
        assert wait_until(lambda: me_status(client, old) == 401, timeout=20)
        assert me_status(client, new) == 200
        jwks = client.get("/.well-known/jwks.json").json()
        assert old_kid not in {k["kid"] for k in jwks["keys"]}


def test_rotated_key_signs_only_after_it_was_in_the_jwks_for_the_max_age(
    tmp_path: Path,
) -> None:
    max_age = 3  # the window before promotion is max_age + PROPAGATION (8 s)
    server = AuthgateServer(
        tmp_path / "data",
        {"AUTHGATE_JWKS_MAX_AGE": str(max_age), "AUTHGATE_MAINTENANCE_INTERVAL": "0.2"},
    )
    with running(server), server.client() as client:
        username = unique("rot")
        first = user_token(client, username)["access_token"]
        old_kid = kid_of(first)
        published = cli(server, "keys", "rotate")
        assert published.returncode == 0, published.stderr
        assert published.stdout.startswith("published next key ")
        kid = published.stdout.split()[3].rstrip(";")

        # The CLI wrote the next key to the database; the running server serves it once
        # it has read the revocation log's ``keys`` event (bounded wait).
        def jwks_lists_it() -> bool:
            return kid in {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}

        assert wait_until(jwks_lists_it, timeout=20)
        response = client.get("/.well-known/jwks.json")
        assert response.headers["cache-control"] == f"public, max-age={max_age}"
        earlier = response.json()  # what a verifier caches now
        # ... while the server still signs with the old key:
        assert kid_of(tokens_of(login(client, username))["access_token"]) == old_kid
        assert kid in {k["kid"] for k in earlier["keys"]}

        # The server promotes it on its own maintenance schedule (bounded wait).
        def promoted() -> bool:
            return kid_of(tokens_of(login(client, username))["access_token"]) == kid

        assert wait_until(promoted, timeout=60, interval=0.2)
        token = tokens_of(login(client, username))["access_token"]
        assert me_status(client, token) == 200
        # A verifier holding the earlier JWK Set knows the signing kid.
        cached = TokenCodec(
            KeyRing.from_jwks(earlier), issuer=ISSUER, audience=AUDIENCE, clock=SystemClock()
        )
        assert cached.verify(token).kid == kid
        assert me_status(client, first) == 200  # the old key: verify-only

        # The recorded times: promoted at least max-age after it was published.
        [(published_at, _)] = audit_events(server.data_dir, "key_published")
        [(promoted_at, detail)] = audit_events(server.data_dir, "key_promoted")
        assert detail == {"kid": kid, "old_kid": old_kid}
        assert promoted_at - published_at >= max_age

        # ``--now``: promoted at once, before any verifier saw it.
        now = cli(server, "keys", "rotate", "--now")
        assert now.returncode == 0, now.stderr
        newest = now.stdout.split()[-1]
        assert now.stdout.strip() == f"rotated: new active key {newest}"
        assert newest not in {k["kid"] for k in earlier["keys"]}

        def reloaded() -> bool:
            return kid_of(tokens_of(login(client, username))["access_token"]) == newest

        assert wait_until(reloaded, timeout=20, interval=0.1)


def _active_and_retired(database_url: str) -> tuple[list[str], list[str]]:
    import asyncpg  # type: ignore[import-untyped]

    async def read() -> list[Any]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return list(await conn.fetch("SELECT kid, state FROM signing_keys"))
        finally:
            await conn.close()

    rows = asyncio.run(read())
    return (
        [r["kid"] for r in rows if r["state"] == "active"],
        [r["kid"] for r in rows if r["state"] == "retired"],
    )


@pytest.mark.postgres
def test_two_instances_starting_at_once_with_a_new_secret_end_with_one_active_key(
    tmp_path: Path, postgres_url: str
) -> None:
    with fresh_database(postgres_url) as database_url:
        env = {
            "AUTHGATE_DATABASE_URL": database_url,
            "AUTHGATE_SIGNING_ALGORITHM": "HS256",
            "AUTHGATE_SECRET_KEY": secrets.token_urlsafe(48),
            **shared_key_env(),
        }
        first = AuthgateServer(tmp_path / "a", env)
        with running(first), first.client() as client:
            old = user_token(client, unique("pair"))["access_token"]
        env["AUTHGATE_SECRET_KEY"] = secrets.token_urlsafe(48)
        a, b = AuthgateServer(tmp_path / "a", env), AuthgateServer(tmp_path / "b", env)
        try:
            with ThreadPoolExecutor(2) as pool:  # both start (and bootstrap) at once
                for started in [pool.submit(a.start), pool.submit(b.start)]:
                    started.result()
            active, retired = _active_and_retired(database_url)
            assert len(active) == 1
            assert retired == [kid_of(old)]
            with a.client() as ca, b.client() as cb:
                assert (me_status(ca, old), me_status(cb, old)) == (401, 401)
                token = user_token(ca, unique("pair"))["access_token"]
                assert kid_of(token) == active[0]
                assert me_status(cb, token) == 200
            logs = a.log_tail(50_000) + b.log_tail(50_000)
            assert logs.count("retired at once") == 1  # one instance made the change
        finally:
            a.stop()
            b.stop()
