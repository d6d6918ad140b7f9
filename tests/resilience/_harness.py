"""Real processes for the resilience tests: ``authgate serve`` instances, a private
``redis-server``, a loopback TCP proxy that can be cut, and a throwaway PostgreSQL
database. Everything listens on 127.0.0.1 only, and every wait is a bounded loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

LOOPBACK = "127.0.0.1"
AUTHGATE = Path(sys.executable).parent / "authgate"
PASSWORD = "resilience-pass-7Qx!v2"


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, never the same one twice in this process:
    servers are often given their ports together and started later, and the kernel
    may hand a just-closed port out again."""
    while True:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def listening_sessions(port: int) -> set[int]:
    """Session ids of the processes listening on TCP ``port`` (Linux ``/proc``). A
    server started with ``start_new_session=True`` has its own pid as session id, so
    this tells whether the process answering on ``port`` is the one we started."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    sessions: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                sessions.add(os.getsid(int(proc.name)))
    return sessions


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def unique(prefix: str) -> str:
    """Usernames unique per test: Redis (throttle, fan-out) is shared by the machine."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def shared_key_env() -> dict[str, str]:
    """One key-encryption key for every instance of a test, so they share signing keys."""
    return {"AUTHGATE_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32)}


class AuthgateServer:
    """One ``authgate serve`` subprocess on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        *,
        with_resource: bool = False,
        factory: str = "build",
    ) -> None:
        """``with_resource``: serve ``_app.<factory>`` (the auth server plus a
        protected ``GET /resource`` that needs no database) with uvicorn instead of
        ``authgate serve``."""
        self.data_dir = data_dir
        self.with_resource = with_resource
        self.factory = factory
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"authgate-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env.update(
            {
                "AUTHGATE_DATA_DIR": str(self.data_dir),
                "AUTHGATE_ISSUER": "http://127.0.0.1",
                "AUTHGATE_PRODUCTION": "false",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 45.0) -> AuthgateServer:
        """Start and wait until healthy; if another process took the port between
        free_port() and our bind (and answered /healthz for us), on a new port."""
        for _ in range(3):
            try:
                self._start_once(timeout)
            except RuntimeError:
                if "address already in use" not in self.log_tail().lower():
                    raise
            assert self.proc is not None
            if self.proc.poll() is None and self.proc.pid in listening_sessions(self.port):
                return self
            self.stop()
            self.port = free_port()
            self.log_path = self.data_dir.parent / f"authgate-{self.port}.log"
        raise RuntimeError("another process kept answering on authgate's port")

    def _start_once(self, timeout: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(AUTHGATE), "serve", "--host", LOOPBACK, "--port", str(self.port)]
        if self.with_resource:
            argv = [sys.executable, "-m", "uvicorn", "--factory", f"resilience._app:{self.factory}"]
            argv += ["--app-dir", str(Path(__file__).parent.parent)]
            argv += ["--host", LOOPBACK, "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_until(self._healthy, timeout=timeout, interval=0.1):
            self.stop()
            raise RuntimeError(f"authgate did not start on {self.port}:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"authgate exited ({self.proc.returncode}):\n{self.log_tail()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill9(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what was acknowledged must survive."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``authgate <args>`` with this server's settings; must succeed."""
        return subprocess.run(
            [str(AUTHGATE), *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )


@contextlib.contextmanager
def running(*servers: AuthgateServer) -> Iterator[tuple[AuthgateServer, ...]]:
    started: list[AuthgateServer] = []
    try:
        for server in servers:
            started.append(server.start())
        yield tuple(started)
    finally:
        for server in reversed(started):
            server.stop()


class ModuleState:
    """Things started once per module (servers are slow to start) but built from
    function-scoped fixtures such as ``postgres_url``: the first test that needs one
    starts it, the module's end stops it."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.values: dict[str, Any] = {}


# ------------------------------------------------------------------ HTTP helpers


def register(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/users", json={"username": username, "password": password})


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    return client.post("/auth/token", data=form)


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return client.post("/auth/token", data=form)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me_status(client: httpx.Client, token: str) -> int:
    return client.get("/users/me", headers=bearer(token)).status_code


def tokens_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------------ Redis


class RedisServer:
    """A private, throwaway redis-server (never the machine's shared one)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        if not wait_until(self._up, timeout=10):
            raise RuntimeError("private redis-server did not start")
        return self

    def _up(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def subscribers(self, channel: str) -> int:
        """How many clients are subscribed to ``channel`` (PUBSUB NUMSUB)."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=2)
        try:
            counts = client.pubsub_numsub(channel)
        finally:
            client.close()
        return int(counts[0][1]) if counts else 0


# -------------------------------------------------------------------- TCP proxy


class TcpProxy:
    """A loopback TCP proxy on its own event loop thread; ``cut()`` drops every
    connection and refuses new ones, ``restore()`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> TcpProxy:
        self._thread.start()
        self.restore()
        return self

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, LOOPBACK, self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _shutdown(self) -> None:
        """Cut, then finish every piping task, so nothing is left pending at close."""
        await self._cut()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


# ------------------------------------------------------------------- PostgreSQL


def _admin_dsn(url: str) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    return urlunsplit(parts)


@contextlib.contextmanager
def fresh_database(postgres_url: str) -> Iterator[str]:
    """CREATE DATABASE authgate_res_<random> on the test server; dropped afterwards.

    Yields the SQLAlchemy URL of the new database.
    """
    import asyncpg  # type: ignore[import-untyped]

    name = f"authgate_res_{uuid.uuid4().hex[:12]}"
    dsn = _admin_dsn(postgres_url)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(postgres_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def with_port(url: str, port: int) -> str:
    """The same database URL through another port (the proxy's)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"{LOOPBACK}:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


# -------------------------------------------------------------------- process RSS


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")
