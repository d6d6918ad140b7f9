"""A real auth server: uvicorn on a loopback socket in a thread, a SQLite file in a
temporary directory, a frozen clock the tests can move."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.service.protocol import AuthServiceProtocol
from authgate.settings import Settings
from authgate.testing import test_settings

T = TypeVar("T")
PASSWORD = "wobbly-lantern-orchid-73"
NEW_PASSWORD = "quiet-harbour-falcon-58"


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    clock: FrozenClock
    loop: asyncio.AbstractEventLoop
    settings: Settings

    def call(self, job: Callable[[AuthServiceProtocol], Awaitable[T]]) -> T:
        """Run ``job(service)`` on the server's event loop (the service lives there)."""

        async def run() -> T:
            return await job(self.app.state.authgate.service)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def register(self, client: httpx.Client, username: str, password: str = PASSWORD) -> None:
        r = client.post("/users", json={"username": username, "password": password})
        assert r.status_code == 201, r.text

    def login(
        self, client: httpx.Client, username: str, password: str = PASSWORD, **extra: str
    ) -> dict[str, Any]:
        r = client.post("/auth/token", data={"username": username, "password": password, **extra})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@contextlib.contextmanager
def serve(app: FastAPI, *, ws: str = "none") -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port) until the generator closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", ws=ws)
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # a readiness wait, not a timed assertion
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start: {failure!r}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", loop
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    clock = FrozenClock(time.time())
    settings = test_settings(
        tmp_path_factory.mktemp("authgate"), default_scopes=["items:read", "items:write"]
    )
    app = create_app(settings, clock=clock)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)
