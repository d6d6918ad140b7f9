"""Run by ``test_bare_install.py`` with the python of a virtualenv that has only
``pip install authgate`` (no extra): a resource server checks real tokens from a
real loopback issuer, and the server's packages are absent. Prints one JSON line."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx

from authgate.tokens import KeyRing, TokenCodec, generate_key

SERVER_ONLY = ["sqlalchemy", "alembic", "asyncpg", "aiosqlite", "redis", "zxcvbn", "jinja2"]
SERVER_ONLY += ["argon2", "pwdlib", "uvicorn"]
AUDIENCE = "orders"


def serve_issuer(ring: KeyRing) -> tuple[ThreadingHTTPServer, str]:
    """RFC 8414 metadata and the JWK Set, over real HTTP on loopback."""
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "max-age=300")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    documents["/.well-known/oauth-authorization-server"] = json.dumps(
        {"issuer": url, "jwks_uri": url + "/jwks.json"}
    ).encode()
    documents["/jwks.json"] = json.dumps(ring.jwks()).encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url


def front_door() -> dict[str, str]:
    """What ``from authgate import NAME`` gives for each name of the front door: the
    resource-server names resolve, the server's ones fail with one line."""
    import authgate

    seen: dict[str, str] = {}
    for name in authgate.__all__:
        try:
            value = getattr(authgate, name)
        except ModuleNotFoundError as exc:
            seen[name] = f"error: {exc}"
        else:
            seen[name] = "ok" if value is not None else "None"
    return seen


async def main(example: Path) -> dict[str, Any]:
    ring = KeyRing.single(generate_key("EdDSA"))
    server, url = serve_issuer(ring)
    codec = TokenCodec(ring, issuer=url, audience=AUDIENCE)
    token, _ = codec.issue(sub="alice", ttl=300, client_id="web", scope={"orders:read"})

    spec = importlib.util.spec_from_file_location("resource_server_example", example)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.create_app(url, AUDIENCE)

    answers: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            ok = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            answers["me"] = [ok.status_code, ok.json()]
            bad = await client.get("/api/me", headers={"Authorization": "Bearer x.y.z"})
            answers["bad"] = [bad.status_code, bad.headers.get("www-authenticate")]
            scoped = await client.post("/api/orders", headers={"Authorization": f"Bearer {token}"})
            answers["scope"] = [scoped.status_code, scoped.json()]
    server.shutdown()

    try:
        importlib.import_module("authgate.server")
    except ModuleNotFoundError as exc:
        answers["server_import"] = str(exc)
    try:
        importlib.import_module("authgate.endpoints")
    except ModuleNotFoundError as exc:
        answers["endpoints_import"] = str(exc)
    answers["front_door"] = front_door()
    answers["present"] = [name for name in SERVER_ONLY if find_spec(name) is not None]
    answers["web_loaded"] = "authgate.web" in sys.modules
    return answers


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
