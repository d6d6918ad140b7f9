"""README.md's code blocks as data, and the real server its shell blocks run against.

Every ``python`` and ``sh`` block of README.md is claimed by exactly one test through a
marker (a line only that block contains); ``test_every_block_is_run_or_exempt`` fails
for a block nobody claims, so a new snippet cannot go unexecuted. Blocks in other
languages (the nginx configuration) are the deployment tests' business.

Shell blocks run line by line with ``bash``, in a throw-away directory, against
``authgate serve`` on a free loopback port with a throw-away data directory. Two
rewrites, both explicit: ``http://127.0.0.1:8000`` (the address ``serve`` uses by
default) becomes the test server's address, and an ``authgate serve`` line gets that
port and binds loopback only. Placeholders are shell variables (``"$TOKEN"``) that
the test sets, as a reader would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
DEFAULT_URL = "http://127.0.0.1:8000"
PASSWORD = "wobbly-lantern-orchid-73"
RUN_LANGS = ("python", "sh")

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_COMMENT = re.compile(r"\s+#\s.*$")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence in README.md

    def commands(self) -> list[str]:
        """The block's shell commands, trailing ``# comments`` dropped."""
        out = []
        for raw in self.code.splitlines():
            command = _COMMENT.sub("", raw).strip()
            if command and not command.startswith("#"):
                out.append(command)
        return out


def blocks(langs: tuple[str, ...] = RUN_LANGS) -> list[Block]:
    text = README.read_text()
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in _FENCE.finditer(text)
        if m.group(1) in langs
    ]


def block(marker: str) -> Block:
    """The one runnable block with ``marker`` as one of its commands (or code lines)."""
    found = [b for b in blocks() if marker in b.commands()]
    assert len(found) == 1, f"{len(found)} README blocks contain {marker!r}"
    return found[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the developer's AUTHGATE_* settings; the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def serve_command(command: str, port: int) -> str:
    """An ``authgate serve`` line of the README on ``port``, bound to loopback."""
    assert command.startswith("authgate serve"), command
    command = command.replace("--host 0.0.0.0", "--host 127.0.0.1")
    command = re.sub(r"--port \d+", "", command)
    return f"{command} --port {port}"


@dataclass
class Served:
    url: str
    env: dict[str, str]
    cwd: Path
    log: str = ""  # the server's output, once stopped

    def sh(self, command: str, *, stdin: str = "", **variables: str) -> str:
        """Run one README shell line here; it must succeed without a traceback."""
        line = command.replace(DEFAULT_URL, self.url)
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={**self.env, **variables},
            timeout=120,
            start_new_session=True,  # no controlling terminal: getpass reads stdin
        )
        assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout

    def login(self, username: str, scope: str | None = None) -> str:
        form = {"grant_type": "password", "username": username, "password": PASSWORD}
        if scope is not None:
            form["scope"] = scope
        r = httpx.post(f"{self.url}/auth/token", data=form)
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token


@dataclass
class Process:
    """A command this test started in its own process group, output in a file."""

    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this test started
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        return self.log.read_text()


def start(command: str, *, env: Mapping[str, str], cwd: Path, logs: Path) -> Process:
    """Start ``command`` in ``cwd``; its output goes to a file in ``logs``."""
    log = logs / f"process-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn workers stop with it
        )
    return Process(proc, log)


def wait_healthy(url: str, process: Process) -> None:
    deadline = time.monotonic() + 90
    while True:  # a readiness wait, not a timed assertion
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no answer on {url}/healthz:\n{process.stop()}")
        time.sleep(0.1)


def serving(tmp: Path, command: str = "authgate serve") -> Iterator[Served]:
    """``authgate serve`` (a README line) on a free loopback port, data in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = clean_env(AUTHGATE_DATA_DIR=str(tmp / "authgate-data"))
    process = start(serve_command(command, port), env=env, cwd=tmp, logs=tmp)
    served = Served(f"http://127.0.0.1:{port}", env, tmp)
    wait_healthy(served.url, process)
    try:
        yield served
    finally:
        served.log = process.stop()
