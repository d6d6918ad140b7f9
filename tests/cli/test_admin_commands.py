"""``authgate users|sessions|keys|check|serve``: through the service, one-line errors
and non-zero exits."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from authgate.cli import app
from authgate.cli.keys_admin import register_keys_admin
from authgate.tokens import generate_key

PASSWORD = "wobbly-lantern-orchid-73"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"AUTHGATE_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    # Only the test's settings: AUTHGATE_* of the developer's shell are unset (None).
    isolated: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHGATE_")}
    isolated.update(env)
    result = CliRunner().invoke(app, list(args), env=isolated, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def table(out: str) -> list[list[str]]:
    """A piped listing: a header row, then rows; columns are two or more spaces apart."""
    return [re.split(r" {2,}", line) for line in out.splitlines()]


def keys_by_kid(out: str) -> dict[str, list[str]]:
    header, *rows = table(out)
    assert header == ["KID", "ALG", "STATE", "SIGNS FROM", "RETIRES"]
    return {row[0]: row[1:] for row in rows}


def test_users_lifecycle(env: dict[str, str]) -> None:
    code, out, _ = run(
        env, "users", "create", "alice", "--password-stdin", "-s", "a", stdin=PASSWORD + "\n"
    )
    assert code == 0, out
    assert "created alice" in out
    code, out, _ = run(env, "users", "list")
    assert code == 0
    header, row = table(out)
    assert header == ["ID", "USERNAME", "SCOPES", "STATE", "CREATED"]
    assert row[1:4] == ["alice", "a", "active"]
    code, out, _ = run(env, "users", "set-scopes", "alice", "b", "c")
    assert (code, out.splitlines()) == (
        0,
        ["alice: b c", "removed a: alice's sessions and tokens were ended"],
    )
    code, out, _ = run(env, "users", "set-scopes", "alice", "b", "c", "d")
    assert (code, out.strip()) == (0, "alice: b c d")  # only added: nothing ended
    code, out, err = run(env, "sessions", "list", "alice")
    assert (code, out, err) == (0, "", "no active sessions\n")
    code, out, _ = run(env, "users", "disable", "alice")
    assert code == 0
    code, out, _ = run(env, "users", "list")
    assert table(out)[1][1:4] == ["alice", "b,c,d", "disabled"]


def test_users_create_prompts_for_a_hidden_password(env: dict[str, str]) -> None:
    code, out, _ = run(env, "users", "create", "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0
    assert PASSWORD not in out
    assert "created bob" in out


def test_users_create_needs_an_address_when_addresses_must_be_verified(
    env: dict[str, str],
) -> None:
    """The service's registration rule holds for the CLI too (issue 16): an account
    without an address could never sign in under ``require_verified_email``."""
    strict = {**env, "AUTHGATE_REQUIRE_VERIFIED_EMAIL": "true"}
    code, _, err = run(strict, "users", "create", "carol", "--password-stdin", stdin=PASSWORD)
    assert (code, err) == (
        1,
        "error: invalid_request: email: required when addresses must be verified\n",
    )
    code, out, _ = run(strict, "users", "list")
    assert (code, table(out)[1:]) == (0, [])  # nothing was written
    code, out, _ = run(
        strict,
        "users",
        "create",
        "carol",
        "--email",
        "carol@example.com",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert code == 0, out
    assert "created carol" in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "create", "weak", "--password-stdin"), "123\n", "weak_password"),
        (("users", "create", "empty", "--password-stdin"), "\n", "no password"),
        (("users", "disable", "nobody"), None, "not_found"),
        (("users", "set-scopes", "nobody", "x"), None, "not_found"),
        (("sessions", "list", "nobody"), None, "not_found"),
        (("sessions", "end", "nobody", "sid"), None, "not_found"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    env: dict[str, str], args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    code, _, err = run(env, *args, stdin=stdin)
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_bad_setting_is_a_one_line_error(env: dict[str, str]) -> None:
    code, _, err = run({**env, "AUTHGATE_ACCESS_TOKEN_TTL": "soon"}, "users", "list")
    assert code == 1
    assert err.strip().startswith("error: invalid setting AUTHGATE_ACCESS_TOKEN_TTL")


def test_keys_list_and_rotate(env: dict[str, str]) -> None:
    """SECURITY.md A.7 #49: ``rotate`` publishes a next key (the server promotes it
    after the JWK Set max-age); ``rotate --now`` promotes it at once."""
    code, before, _ = run(env, "keys", "list")  # wired into the keys group by cli/keys.py
    assert code == 0, before
    ((old_kid, (alg, state, _, _)),) = keys_by_kid(before).items()
    assert (alg, state) == ("EdDSA", "active")
    code, published, _ = run(env, "keys", "rotate")
    assert code == 0
    assert published.startswith("published next key ")
    kid = published.split()[3].rstrip(";")
    _, listed, _ = run(env, "keys", "list")
    keys = keys_by_kid(listed)
    assert keys[old_kid] == ["EdDSA", "active", "-", "-"]  # neither promoted nor retiring
    assert keys[kid][:2] == ["EdDSA", "next"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", keys[kid][2])
    code, rotated, _ = run(env, "keys", "rotate", "--now")
    assert code == 0
    assert rotated.strip() == f"rotated: new active key {kid}"  # the published one
    _, after, _ = run(env, "keys", "list")
    keys = keys_by_kid(after)
    assert keys[kid] == ["EdDSA", "active", "-", "-"]
    assert keys[old_kid][:2] == ["EdDSA", "retiring"]
    assert keys[old_kid][-1].endswith("Z")


def test_keys_retire_a_retiring_key_at_once(env: dict[str, str]) -> None:
    _, before, _ = run(env, "keys", "list")
    (old_kid,) = keys_by_kid(before)
    assert run(env, "keys", "rotate", "--now")[0] == 0
    code, out, err = run(env, "keys", "retire", old_kid, "--now")
    assert (code, err) == (0, "")
    assert out.strip() == f"retired {old_kid}: its tokens are refused now"
    _, after, _ = run(env, "keys", "list")
    assert old_kid not in after
    code, _, err = run(env, "keys", "retire", old_kid, "--now")
    assert code == 1
    assert err == f"error: not_found: key {old_kid!r} is already retired\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "retire", "no-such-kid", "--now"), "not_found: no key 'no-such-kid'"),
        (("keys", "retire", "no-such-kid"), "not_found: no key 'no-such-kid'"),
        # base64url kids may start with "-": still the argument, not an unknown option
        (("keys", "retire", "-no-such-kid", "--now"), "not_found: no key '-no-such-kid'"),
        (("keys", "retire", "ACTIVE", "--now"), "is the active key"),
        (("keys", "retire", "ACTIVE"), "is the active key"),
    ],
)
def test_keys_retire_errors_are_one_line(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    (active,) = keys_by_kid(run(env, "keys", "list")[1])
    code, out, err = run(env, *(active if a == "ACTIVE" else a for a in args))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_keys_rotate_is_refused_when_the_key_is_configured(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The configured key is the source of truth (SECURITY.md A.7 #49): rotating
    would be undone by the next start."""
    pem = tmp_path / "signing.pem"
    pem.write_bytes(generate_key("EdDSA").private_pem())
    code, _, err = run({**env, "AUTHGATE_SIGNING_KEY_FILE": str(pem)}, "keys", "rotate")
    assert code == 1
    assert err.count("\n") == 1
    assert "configured by AUTHGATE_SIGNING_KEY_FILE" in err


def test_register_keys_admin_adds_three_commands() -> None:
    keys = typer.Typer()
    register_keys_admin(keys)
    assert sorted(c.name or "" for c in keys.registered_commands) == ["list", "retire", "rotate"]


def test_check_exit_codes(env: dict[str, str]) -> None:
    assert run(env, "check")[0] == 0
    code, _, err = run(
        {**env, "AUTHGATE_SIGNING_ALGORITHM": "HS256", "AUTHGATE_SECRET_KEY": "changeme"}, "check"
    )
    assert code == 1
    assert "placeholder" in err


def test_serve_refuses_unsafe_production_settings(env: dict[str, str]) -> None:
    code, _, err = run({**env, "AUTHGATE_PRODUCTION": "true"}, "serve")
    assert code == 1
    assert "AUTHGATE_ISSUER" in err
    assert "refusing to serve" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_with_zero_configuration(tmp_path: Path) -> None:
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from authgate.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # a readiness wait, not a timed assertion
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        proc.stderr.read() if proc.stderr else "no output"
                    ) from None
                time.sleep(0.1)
        assert r.status_code == 200
        assert (tmp_path / "authgate-data" / "authgate.db").exists()
        assert httpx.get(f"http://127.0.0.1:{port}/.well-known/jwks.json").json()["keys"]
        body = {"username": "served-user", "password": PASSWORD}
        assert httpx.post(f"http://127.0.0.1:{port}/users", json=body).status_code == 201
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/docs" in out
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "user_registered" for e in events), err
    assert PASSWORD not in err + out


@pytest.mark.parametrize("sid", ["-LdashFirst0123456789A", "--dash-dash-first-012345"])
def test_sessions_end_takes_a_session_id_that_starts_with_a_dash(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, sid: str
) -> None:
    """A session id is base64url (``secrets.token_urlsafe``), so one in 64 starts with
    "-": ``sessions end`` must take it as the id, not fail with "no such option"."""
    import asyncio

    from authgate.domain import ClientInfo
    from authgate.service import logins
    from authgate.service.compose import open_service
    from authgate.settings import Settings

    monkeypatch.setattr(logins, "new_id", lambda: sid)

    async def sign_in() -> None:
        service = await open_service(Settings(_env_file=None, data_dir=env["AUTHGATE_DATA_DIR"]))
        try:
            await service.register("alice", PASSWORD)
            await service.login("alice", PASSWORD, scope=None, client=ClientInfo(ip="127.0.0.1"))
        finally:
            await service.aclose()

    asyncio.run(sign_in())
    code, out, _ = run(env, "sessions", "list", "alice", "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == [sid]
    code, out, err = run(env, "sessions", "end", "alice", sid)
    assert (code, out.strip(), err) == (0, f"ended session {sid}", "")
    code, out, err = run(env, "sessions", "list", "alice")
    assert (code, err) == (0, "no active sessions\n")
