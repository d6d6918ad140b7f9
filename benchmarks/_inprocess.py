"""The verification path without a server or a network: µs per request of an app's
public and protected routes, calling the ASGI app directly (median of rounds that
alternate the two routes). Run by benchmarks/compare.py under the virtualenv that has
the app's dependencies; prints one JSON line.

    python benchmarks/_inprocess.py recipe|fastapi-users|authgate-dependency|authgate-middleware
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = "correct horse battery staple 42"
CALLS = 2000
ROUNDS = 7


async def call(app: Any, path: str, headers: dict[str, str]) -> int:
    status: list[int] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def token(kind: str, client: Any) -> str:
    if kind == "recipe":
        form = {"username": "johndoe", "password": "secret"}
        response = await client.post("/token", data=form)
    elif kind == "fastapi-users":
        body = {"email": "bench@example.com", "password": PASSWORD}
        await client.post("/auth/register", json=body)
        form = {"username": body["email"], "password": PASSWORD}
        response = await client.post("/auth/jwt/login", data=form)
    else:
        await client.post("/users", json={"username": "inproc", "password": PASSWORD})
        form = {"grant_type": "password", "username": "inproc", "password": PASSWORD}
        response = await client.post("/auth/token", data=form)
    response.raise_for_status()
    return str(response.json()["access_token"])


def build(kind: str) -> tuple[Any, str]:
    if kind == "recipe":
        from benchmarks.recipe_app import app

        return app, "/users/me"
    if kind == "fastapi-users":
        from benchmarks.fastapi_users_app import app

        return app, "/users/me"
    from benchmarks import authgate_app

    if kind == "authgate-dependency":
        return authgate_app.build_dependency(), "/protected/dependency"
    return authgate_app.build_middleware(), "/protected/mw"


async def main(kind: str) -> dict[str, float]:
    import httpx

    app, protected = build(kind)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            auth = {"authorization": f"Bearer {await token(kind, client)}"}
        times: dict[str, list[float]] = {"public": [], "protected": []}
        for _ in range(ROUNDS):
            for name, path, headers in (("public", "/public", {}), ("protected", protected, auth)):
                start = time.perf_counter()
                for _ in range(CALLS):
                    status = await call(app, path, headers)
                times[name].append((time.perf_counter() - start) / CALLS * 1e6)
                if status != 200:
                    raise SystemExit(f"{kind} {path}: HTTP {status}")
    return {name: statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    which = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="authgate-inproc-") as tmp:
        os.environ.setdefault("FASTAPI_USERS_DB", str(Path(tmp) / "fu.db"))
        os.environ.setdefault("AUTHGATE_DATA_DIR", str(Path(tmp) / "authgate"))
        os.environ.setdefault("AUTHGATE_ISSUER", "http://127.0.0.1")
        print(json.dumps(asyncio.run(main(which))))
