"""What the commands print and where: listings with a header row (a table on a terminal,
aligned columns piped, JSON lines), quiet ends in a closed pipe, ``serve`` on a busy
port, ``token verify --jwks`` from a file or a URL. Real subprocesses, a real pty, real
sockets and a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from authgate.cli import app
from authgate.clock import SystemClock
from authgate.service import open_service
from authgate.service.types import ClientInfo
from authgate.settings import Settings
from authgate.tokens import KeyRing, TokenCodec, generate_key

PASSWORD = "wobbly-lantern-orchid-73"
HOSTILE_AGENT = "\x1b[2J\x1b[31mcurl[bold]/8"  # clears the screen, turns red, rich markup
EXECUTABLE = Path(sys.executable).parent / "authgate"
ISSUER = "https://auth.example.com"


def _env(data: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    return {**clean, "AUTHGATE_DATA_DIR": str(data)}


def _invoke(data: Path, *args: str) -> tuple[int, str, str]:
    isolated: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHGATE_")}
    isolated["AUTHGATE_DATA_DIR"] = str(data)
    result = CliRunner().invoke(app, list(args), env=isolated)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    """alice and bob; bob has three sessions, one from a hostile user agent."""
    data = tmp_path / "data"

    async def setup() -> None:
        service = await open_service(Settings(_env_file=None, data_dir=data))
        try:
            await service.register("alice", PASSWORD, scopes=["read", "write"])
            await service.register("bob", PASSWORD)
            for agent in ("curl/8", "httpx/0.28", HOSTILE_AGENT):
                client = ClientInfo(ip="127.0.0.1", user_agent=agent)
                await service.login("bob", PASSWORD, scope=None, client=client)
        finally:
            await service.aclose()

    asyncio.run(setup())
    return data


def _table(out: str) -> list[list[str]]:
    return [re.split(r" {2,}", line) for line in out.splitlines()]


def test_piped_listings_are_aligned_columns_under_a_header(populated: Path) -> None:
    code, out, _ = _invoke(populated, "users", "list")
    assert code == 0
    header, *rows = _table(out)
    assert header == ["ID", "USERNAME", "SCOPES", "STATE", "CREATED"]
    assert sorted(row[1:4] for row in rows) == [
        ["alice", "read,write", "active"],
        ["bob", "-", "active"],
    ]
    # aligned: every row's second column starts where the header's does
    start = out.splitlines()[0].index("USERNAME")
    assert all(line[start - 2 : start] == "  " and line[start] != " " for line in out.splitlines())

    code, out, _ = _invoke(populated, "sessions", "list", "bob")
    assert code == 0
    header, *rows = _table(out)
    assert header == ["ID", "CREATED", "LAST USED", "IP", "USER AGENT"]
    assert sorted(row[4] for row in rows) == ["?[2J?[31mcurl[bold]/8", "curl/8", "httpx/0.28"]
    assert "\x1b" not in out  # a client's user agent cannot drive the operator's terminal


def test_json_listings_are_one_object_per_line(populated: Path) -> None:
    code, out, _ = _invoke(populated, "users", "list", "--json")
    assert code == 0
    users = {u["username"]: u for u in map(json.loads, out.splitlines())}
    assert users["alice"]["scopes"] == ["read", "write"]
    assert users["bob"]["state"] == "active"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", users["bob"]["created"])
    code, out, _ = _invoke(populated, "sessions", "list", "bob", "--json")
    sessions = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert sorted(s["user_agent"] for s in sessions) == sorted(
        ["curl/8", "httpx/0.28", HOSTILE_AGENT]
    )
    code, out, _ = _invoke(populated, "keys", "list", "--json")
    ((key,),) = [[json.loads(line) for line in out.splitlines()]]
    assert (code, key["alg"], key["state"], key["retires"]) == (0, "EdDSA", "active", None)
    code, out, _ = _invoke(populated, "audit", "list", "--json", "--event", "user_registered")
    assert code == 0
    assert len(out.splitlines()) == 2


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [str(EXECUTABLE), *args], stdout=secondary, stderr=secondary, env={**env, "COLUMNS": "200"}
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return proc.wait(), b"".join(chunks).decode()


def test_on_a_terminal_a_listing_is_a_table_that_reads_no_markup(populated: Path) -> None:
    code, shown = _run_on_a_terminal(["sessions", "list", "bob"], _env(populated))
    assert code == 0, shown
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # rich's own styling (the bold header)
    assert re.search(r"ID +CREATED +LAST USED +IP +USER AGENT", plain)
    assert "─" in plain  # the rule under the header row
    assert "?[2J?[31mcurl[bold]/8" in plain  # shown as text: no escape, markup not read
    assert "\x1b[2J" not in shown


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["users", "list", "--json"],
        ["sessions", "list", "bob"],
        ["keys", "list"],
        ["audit", "list"],
        ["--help"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_ends_the_command_quietly(populated: Path, args: list[str]) -> None:
    """``authgate sessions list bob | head -3``: the reader is gone; no error line."""
    proc = subprocess.Popen(
        [str(EXECUTABLE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(populated),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # what `head` does once it has its lines
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait() == 1  # click's exit code for a closed pipe
    assert err == ""


def test_serve_on_a_busy_port_says_so_before_serving(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(EXECUTABLE), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(tmp_path / "data"),
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"error: 127.0.0.1:{port} is already in use"
    assert "serving on" not in done.stdout
    assert not (tmp_path / "data").exists()  # refused before preparing anything


# -- token verify --jwks FILE|URL ------------------------------------------------------


@pytest.fixture
def signed() -> tuple[str, bytes]:
    """A token and the JWK Set of the key that signed it."""
    key = generate_key("ES256")
    codec = TokenCodec(KeyRing.single(key), issuer=ISSUER, audience="api", clock=SystemClock())
    token, _ = codec.issue(sub="user-1", ttl=900, client_id="cli")
    return token, json.dumps({"keys": [key.public_jwk()]}).encode()


@pytest.fixture
def jwks_server(signed: tuple[str, bytes]) -> Iterator[str]:
    """A real HTTP server on loopback: /jwks.json, a redirect, a 404, an HTML page."""
    body = signed[1]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/jwks.json":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/jwks.json")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/page":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "6")
                self.end_headers()
                self.wfile.write(b"<html>")
            else:
                self.send_error(404)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _verify(token: str, jwks: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["token", "verify", token, "--jwks", jwks, "--issuer", ISSUER, "--audience", "api"]
    )
    return result.exit_code, result.stdout, result.stderr


def test_verify_fetches_a_jwks_url(signed: tuple[str, bytes], jwks_server: str) -> None:
    code, out, err = _verify(signed[0], f"{jwks_server}/jwks.json")
    assert (code, err) == (0, ""), err
    assert json.loads(out)["sub"] == "user-1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://auth.example.com/jwks.json",
            "error: unsafe_config: the JWK Set URL must use https://",
        ),
        (
            "file:///etc/passwd",
            "error: unsafe_config: the JWK Set URL must be an https:// URL, not file",
        ),
        (
            "https://user:pw@auth.example.com/jwks",
            "error: unsafe_config: the JWK Set URL must not carry credentials",
        ),
        ("{server}/moved", "redirect refused"),
        ("{server}/missing", "HTTP 404"),
        ("{server}/page", "content type is not JSON"),
    ],
)
def test_verify_fetches_only_what_the_verifier_would(
    signed: tuple[str, bytes], jwks_server: str, url: str, message: str
) -> None:
    code, out, err = _verify(signed[0], url.format(server=jwks_server))
    assert (code, out) == (1, "")
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1


def test_jwks_file_errors_name_the_file_and_say_why(
    signed: tuple[str, bytes], tmp_path: Path
) -> None:
    missing = tmp_path / "jwks.json"
    assert _verify(signed[0], str(missing)) == (
        1,
        "",
        f"error: cannot read {missing}: no such file\n",
    )
    assert _verify(signed[0], str(tmp_path)) == (
        1,
        "",
        f"error: cannot read {tmp_path}: is a directory\n",
    )
    missing.write_bytes(signed[1])
    code, out, _ = _verify(signed[0], str(missing))
    assert (code, json.loads(out)["sub"]) == (0, "user-1")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("eyJhbGciOiJFUzI1NiJ9.e30.", "error: malformed: empty JWS segment"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.AB=", "error: malformed: "),  # padding: not canonical
        ("a" * 9000, "error: malformed: token is larger than the size cap"),
        ("a.b.c.d.e", "error: unsupported_token: JWE is not accepted"),
    ],
)
def test_decode_applies_the_codecs_shape_rules(token: str, message: str) -> None:
    result = CliRunner().invoke(app, ["token", "decode", token])
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
