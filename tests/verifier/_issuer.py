"""A real HTTP issuer on loopback (stdlib ThreadingHTTPServer in a thread).

It serves RFC 8414 metadata, the JWK Set of a real KeyRing that tests rotate, and
an RFC 7662 introspection endpoint; it counts hits per path, and can be told to
answer badly (status, body, content type, size, slowness) or to go down.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import orjson
from cryptography.hazmat.primitives.asymmetric import ed25519

from authgate.clock import FrozenClock
from authgate.tokens import KeyRing, TokenCodec, generate_key
from authgate.tokens.keys import EdDSAKey, Key

AUDIENCE = "orders"
CLIENT_ID = "orders-service"
CLIENT_SECRET = "s3cret-for-tests-only"


@dataclass
class Canned:
    """A scripted answer: ``body`` is sent in ``chunks`` with ``pause`` seconds between."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True
    chunks: int = 1
    pause: float = 0.0


class Issuer:
    """The issuer side of the tests: keys, tokens, and the HTTP server."""

    def __init__(self, clock: FrozenClock, alg: str = "EdDSA") -> None:
        self.clock = clock
        self.ring = KeyRing.single(generate_key(alg))
        self.hits: Counter[str] = Counter()
        self.overrides: dict[str, Canned | Callable[[], Canned]] = {}
        self.cache_control: str | None = "max-age=300"
        self.revoked: set[str] = set()
        self.jwks_path = "/jwks"
        self.metadata_issuer: str | None = None  # None: the real issuer URL
        self.jwks_uri: str | None = None  # None: this server's /jwks
        self._stop = threading.Event()
        self._lock = threading.Lock()
        handler = _handler_for(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    # -- tokens ---------------------------------------------------------------

    def codec(self, audience: str = AUDIENCE) -> TokenCodec:
        return TokenCodec(self.ring, issuer=self.url, audience=audience, clock=self.clock)

    def issue(self, *, sub: str = "user-1", scope: set[str] | None = None, ttl: int = 900) -> str:
        token, _ = self.codec().issue(sub=sub, ttl=ttl, client_id="web", scope=scope or set())
        return token

    def rotate(self, alg: str | None = None) -> Key:
        """Publish a new key and promote it; the old key stays published (retiring)."""
        key = generate_key(alg or self.ring.active.alg)
        self.ring.publish_next(key)
        self.ring.promote_next(now=self.clock.now(), retire_after=3600)
        return key

    # -- HTTP -----------------------------------------------------------------

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits[path]

    def _hit(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.metadata_issuer if self.metadata_issuer is not None else self.url,
            "jwks_uri": self.jwks_uri if self.jwks_uri is not None else self.url + self.jwks_path,
            "introspection_endpoint": self.url + "/introspect",
        }

    def answer(self, path: str, form: dict[str, list[str]], auth: str | None) -> Canned:
        override = self.overrides.get(path)
        if override is not None:
            return override() if callable(override) else override
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        if path == "/.well-known/oauth-authorization-server":
            return Canned(body=orjson.dumps(self.metadata()))
        if path == self.jwks_path:
            return Canned(body=orjson.dumps(self.ring.jwks()), headers=headers)
        if path == "/introspect":
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if auth != "Basic " + expected:
                return Canned(status=401, body=b'{"error":"invalid_client"}')
            token = form.get("token", [""])[0]
            active = token not in self.revoked
            return Canned(body=orjson.dumps({"active": active}))
        return Canned(status=404, body=b'{"error":"not_found"}')

    def down(self) -> None:
        """Stop answering: later connections are refused."""
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def close(self) -> None:
        if not self._stop.is_set():
            self.down()


def random_kid_token(clock: FrozenClock, issuer: str) -> str:
    """A valid-looking token whose kid the issuer never published."""
    key = EdDSAKey(ed25519.Ed25519PrivateKey.generate(), kid=secrets.token_urlsafe(12))
    codec = TokenCodec(KeyRing.single(key), issuer=issuer, audience=AUDIENCE, clock=clock)
    return codec.issue(sub="attacker", ttl=900, client_id="x")[0]


def _handler_for(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self, form: dict[str, list[str]]) -> None:
            path = self.path.split("?", 1)[0]
            issuer._hit(path)
            canned = issuer.answer(path, form, self.headers.get("Authorization"))
            self.send_response(canned.status)
            if canned.content_type:
                self.send_header("Content-Type", canned.content_type)
            if canned.content_length:
                self.send_header("Content-Length", str(len(canned.body)))
            for name, value in canned.headers.items():
                self.send_header(name, value)
            self.end_headers()
            size = max(1, -(-len(canned.body) // canned.chunks))
            try:
                for start in range(0, len(canned.body), size):
                    if start and canned.pause and issuer._stop.wait(canned.pause):
                        return
                    self.wfile.write(canned.body[start : start + size])
                    self.wfile.flush()
            except OSError:
                return

        def do_GET(self) -> None:
            self._serve({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            self._serve(form)

    return Handler
