"""README.md's shell blocks run: each ``authgate`` line against a throw-away data
directory and a real ``authgate serve`` on loopback, and must exit 0 without a
traceback. What cannot run inside the suite is listed in ``EXEMPT`` with the reason,
and a test proves what can be proved about it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import jwt
import pytest

from ._readme import (
    PASSWORD,
    ROOT,
    RUN_LANGS,
    Block,
    blocks,
    clean_env,
    free_port,
    serving,
    start,
    wait_healthy,
)
from ._readme import block as readme_block
from .test_readme_python import LIBRARY, TESTING, VERIFIER

#: Lines not executed here, why, and the test that proves what can be proved.
EXEMPT = {
    "make test": "runs the whole suite, this file included "
    "(test_make_test_is_lint_typecheck_pytest_and_what_ci_runs)",
    "scripts/matrix newest": "builds a fresh virtualenv from the package index and runs "
    "the whole suite (test_matrix_lines_are_what_ci_runs)",
    "scripts/matrix lowest": "as newest, at the declared floors "
    "(test_matrix_lines_are_what_ci_runs)",
}

QUICK_START = "make serve"
MATRIX = "scripts/matrix newest"
CLI = "authgate --help"
SERVER = "authgate serve"
ADMIN = "authgate users list"
SERVICES = "authgate apis list"
MARKERS = [QUICK_START, MATRIX, CLI, SERVER, ADMIN, SERVICES, LIBRARY, TESTING, VERIFIER]


def _claimed_by(b: Block) -> list[str]:
    return [m for m in MARKERS if m in b.commands()]


def test_every_block_is_run_or_exempt() -> None:
    found = blocks(RUN_LANGS)
    assert len(found) == len(MARKERS)
    for b in found:
        assert len(_claimed_by(b)) == 1, f"README.md line {b.line}: no test runs this block"
    assert {lang for lang in (b.lang for b in blocks(("sh", "bash", "shell", "console")))} == {"sh"}


def _run_all(b: Block, run: dict[str, str]) -> set[str]:
    """Commands of ``b`` that are neither in ``run`` (handled) nor exempt."""
    return {c for c in b.commands() if c not in run and c not in EXEMPT}


def test_quick_start_make_serve_answers_healthz(tmp_path: Path) -> None:
    b = readme_block(QUICK_START)
    assert b.commands() == ["make serve", "make test"]
    done = subprocess.run(["make", "-q", "setup-serve"], cwd=ROOT, check=False)
    assert done.returncode == 0, "the server's virtualenv is out of date: run `make setup`"
    port = free_port()
    env = clean_env(AUTHGATE_DATA_DIR=str(tmp_path / "authgate-data"))
    command = f"make -s serve SERVE_ARGS='--port {port}'"
    process = start(command, env=env, cwd=ROOT, logs=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        assert httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]
    finally:
        log = process.stop()
    assert f"{url}/docs" in log
    assert (tmp_path / "authgate-data" / "authgate.db").exists()


def test_make_test_is_lint_typecheck_pytest_and_what_ci_runs() -> None:
    plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for step in ("ruff check", "ruff format --check", "mypy", "-m pytest"):
        assert step in plan, step
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_matrix_lines_are_what_ci_runs() -> None:
    b = readme_block(MATRIX)
    assert b.commands() == ["scripts/matrix newest", "scripts/matrix lowest"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    script = (ROOT / "scripts" / "matrix").read_text()
    for command in b.commands():
        assert command in ci, command
        assert f"  {command.split()[1]})" in script  # a case branch for each kind
    assert (ROOT / "scripts" / "matrix").stat().st_mode & 0o111


def test_cli_block_runs_against_a_served_data_dir(tmp_path: Path) -> None:
    b = readme_block(CLI)
    for server in serving(tmp_path):
        user = {"username": "reader", "password": PASSWORD}
        assert httpx.post(f"{server.url}/users", json=user).status_code == 201
        token = server.login("reader")
        out = {c: server.sh(c, TOKEN=token) for c in b.commands() if c not in EXEMPT}
    assert _run_all(b, out) == set()
    assert len(json.loads(out["authgate keys jwks key1.pem key2.pem"])["keys"]) == 2
    assert "UNVERIFIED" in out['authgate token decode "$TOKEN"']


def test_server_block_serves_and_checks(tmp_path: Path) -> None:
    b = readme_block(SERVER)
    ran: dict[str, str] = {}
    serves = [c for c in b.commands() if c.startswith("authgate serve")]
    assert len(serves) == 2
    for n, command in enumerate(serves):
        for server in serving(tmp_path / f"serve-{n}", command):
            metadata = httpx.get(f"{server.url}/.well-known/oauth-authorization-server")
            assert metadata.json()["issuer"] == server.url  # the address served, on loopback
            for other in b.commands():
                if not other.startswith("authgate serve"):
                    ran[other] = server.sh(other)
        ran[command] = server.log
    assert _run_all(b, ran) == set()


def test_admin_block_runs_against_a_running_server(tmp_path: Path) -> None:
    b = readme_block(ADMIN)
    ran: dict[str, str] = {}
    for server in serving(tmp_path):
        [first_key] = httpx.get(f"{server.url}/.well-known/jwks.json").json()["keys"]
        variables = {"PW": PASSWORD, "KID": first_key["kid"]}
        for command in b.commands():
            if "$SESSION_ID" in command:  # a session of alice's, as `sessions list` shows
                token = server.login("alice")
                sessions = httpx.get(
                    f"{server.url}/users/me/sessions",
                    headers={"Authorization": f"Bearer {token}"},
                ).json()
                variables["SESSION_ID"] = sessions[0]["id"]
            ran[command] = server.sh(command, stdin=f"{PASSWORD}\n{PASSWORD}\n", **variables)
        refused = httpx.post(
            f"{server.url}/auth/token",
            data={"grant_type": "password", "username": "alice", "password": PASSWORD},
        )
        assert refused.status_code == 400  # `users disable alice` took effect
        assert server.login("bob")
    assert _run_all(b, ran) == set()
    assert "alice" in ran["authgate users list"]
    assert first_key["kid"] in ran["authgate keys list"]


def test_services_block_registers_an_api_and_a_client_that_gets_a_token(
    tmp_path: Path,
) -> None:
    b = readme_block(SERVICES)
    ran: dict[str, str] = {}
    variables: dict[str, str] = {}
    for server in serving(tmp_path):
        for command in b.commands():
            ran[command] = server.sh(command, **variables)
            if "reporter.json" in command:
                created = json.loads((server.cwd / "reporter.json").read_text())
                assert set(created) == {"client_id", "client_secret"}
                variables = {
                    "CLIENT_ID": created["client_id"],
                    "CLIENT_SECRET": created["client_secret"],
                }
        jwks = httpx.get(f"{server.url}/.well-known/jwks.json").json()
    assert _run_all(b, ran) == set()
    [curl] = [c for c in b.commands() if c.startswith("curl")]
    token = json.loads(ran[curl])
    assert "refresh_token" not in token
    assert token["scope"] == "orders:read"
    header = jwt.get_unverified_header(token["access_token"])
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        token["access_token"],
        jwt.PyJWK(jwk),
        algorithms=[jwk["alg"]],
        audience="https://orders.internal",
    )
    assert claims["sub"] == variables["CLIENT_ID"]
    rotated = json.loads(ran["authgate clients rotate-secret reporter --json"])
    assert rotated["client_id"] == variables["CLIENT_ID"]
    assert rotated["client_secret"] != variables["CLIENT_SECRET"]
    assert "orders" in ran["authgate apis list"]
    assert "reporter" in ran["authgate clients list"]


@pytest.mark.parametrize("command", sorted(EXEMPT))
def test_exempt_lines_are_in_the_readme(command: str) -> None:
    assert any(command in b.commands() for b in blocks(("sh",))), command
