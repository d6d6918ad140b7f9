"""A real ``authgate serve`` on loopback and Debian's Chromium driven by Playwright.

Chromium is ``/usr/bin/chromium`` (never a downloaded browser). Without it the
browser tests skip locally and fail under ``AUTHGATE_TEST_REQUIRE_SERVICES=1``.

Chromium 156 keeps ``__Host-`` + ``Secure`` cookies set over plain
``http://127.0.0.1`` and ``http://localhost``: both are "potentially trustworthy"
origins (W3C Secure Contexts §3.1), so the server runs on http://127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "a long and unusual passphrase 42"
_STARTUP_LIMIT = 60.0
#: How long a Playwright action or expectation may wait before it fails.
_ACTION_LIMIT = 10_000
REQUIRE_SERVICES = os.environ.get("AUTHGATE_TEST_REQUIRE_SERVICES") == "1"


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Poll the port until the server accepts connections (a startup wait, not a
    timed assertion: the limit only turns a hang into a clear failure)."""
    deadline = time.monotonic() + _STARTUP_LIMIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"authgate serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"authgate serve did not listen on {port}:\n{log.read_text()}")


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    """The settings of the test server: a fresh data dir, the cookie transport on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(
        {
            "AUTHGATE_DATA_DIR": str(data_dir),
            "AUTHGATE_ISSUER": f"http://127.0.0.1:{port}",
            "AUTHGATE_COOKIES__ENABLED": "true",
            "AUTHGATE_ALLOW_REGISTRATION": "true",
            "AUTHGATE_DEFAULT_SCOPES": '["profile"]',
            # A long back-off, so the throttled answer does not race the wall clock.
            "AUTHGATE_THROTTLE__BACKOFF_BASE": "60",
            # One server signs up every browser test's users: the default 20 sign-ups
            # per IP and hour would refuse the later tests (none tests that limit).
            "AUTHGATE_THROTTLE__REGISTRATIONS_PER_IP_PER_HOUR": "1000",
        }
    )
    return env


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``authgate serve`` in a subprocess on a free loopback port, with a tmp data dir."""
    data_dir = tmp_path_factory.mktemp("authgate-data")
    log = data_dir.parent / "serve.log"
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        "from authgate.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=server_env(data_dir, port), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_serving(proc, port, log)
        yield LiveServer(f"http://127.0.0.1:{port}", port, data_dir, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and AUTHGATE_TEST_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Module scope: the sync API's event loop lives only while the browser tests run,
    # so it never meets the anyio tests of other modules.
    _require_chromium()
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 800})
    ctx.set_default_timeout(_ACTION_LIMIT)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def second_context(browser: Browser) -> Iterator[BrowserContext]:
    """Another browser (its own cookie jar), presenting as a phone."""
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        user_agent=(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
        ),
    )
    ctx.set_default_timeout(_ACTION_LIMIT)
    try:
        yield ctx
    finally:
        ctx.close()


class _AttackerPage(BaseHTTPRequestHandler):
    """Serves one page that auto-submits a form to the victim server."""

    target = ""
    fields: dict[str, str] = {}  # noqa: RUF012 - set per server on a subclass

    def do_GET(self) -> None:
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{value}">'
            for name, value in self.fields.items()
        )
        body = (
            "<!doctype html><title>win a prize</title>"
            f'<form id="f" method="post" action="{self.target}">{inputs}</form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass
class AttackerSite:
    """Another origin on loopback (same site, other port: SameSite=Lax cookies *are*
    sent, so only the CSRF token can stop its forms)."""

    server: ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


AttackerFactory = Callable[[str, dict[str, str]], AttackerSite]


@pytest.fixture
def attacker_site() -> Iterator[AttackerFactory]:
    servers: list[ThreadingHTTPServer] = []

    def start(target: str, fields: dict[str, str]) -> AttackerSite:
        handler = type("Handler", (_AttackerPage,), {"target": target, "fields": fields})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return AttackerSite(server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
