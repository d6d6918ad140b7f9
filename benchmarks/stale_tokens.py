"""Stale and invalid tokens must not cost throughput (issue 18): one run, printed.

Three apps, each served by one uvicorn process pinned to core 0, loaded by ``wrk`` on
core 1 (``apt-get install wrk``; without it a bounded httpx loop stands in and the
ratios mean less):

* ``middleware``: the README's middleware form, ``gate.install(app, require=["/me"])``;
  ``GET /me`` reads the caller with ``get_principal()``;
* ``dependency``: ``gate.install(app)`` (the app-wide middleware, nothing required);
  ``GET /me`` takes ``user: CurrentUser``;
* ``resource``: a resource server on ``authgate.verifier`` (``protect(app, verifier,
  middleware=True)``, keys from a JWKS served on loopback by this process);
  ``GET /me`` takes ``CurrentUser``.

Each app also serves ``GET /public``. Requests: ``/public`` with no header, with an
expired (validly signed) bearer, a malformed one and a valid one; ``/me`` with the
valid token, with the expired one and (auth server apps) with a revoked one, the last
two answered 401. Every token except the malformed one is signed by the app's key.
Targets: bearer on ``/public`` >= 0.95 x no header; 401 floods >= 0.9 x valid ``/me``;
middleware ``/me`` valid >= 0.97 x ``/public``. Also printed: the codec's verify floor
per algorithm (µs per verification of distinct tokens, no cache).

    .venv/bin/python benchmarks/stale_tokens.py [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L
import httpx
from fastapi import FastAPI

from authgate.clock import FrozenClock
from authgate.endpoints import AuthGate
from authgate.settings import Settings
from authgate.tokens import KeyRing, TokenCodec, generate_key
from authgate.tokens.keys import load_pem
from authgate.verifier import JWKSVerifier
from authgate.verifier.fastapi import CurrentUser as VerifierUser
from authgate.verifier.fastapi import protect, verifier_lifespan
from authgate.web import CurrentUser, get_principal

PASSWORD = "wobbly-lantern-orchid-73"
AUDIENCE = "bench-api"
MALFORMED = "Bearer not-a-jwt"
ALGORITHMS = ("EdDSA", "ES256", "RS256", "PS256", "HS256")

# ----------------------------------------------------------------- the apps (uvicorn)


def _public(app: FastAPI) -> None:
    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"hello": "world"}


def middleware_app() -> FastAPI:
    gate = AuthGate(Settings())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app, require=["/me"])
    _public(app)

    @app.get("/me")
    async def me() -> dict[str, str]:
        principal = get_principal()
        assert principal is not None  # require=[...] refused the request otherwise
        return {"hello": principal.sub}

    return app


def dependency_app() -> FastAPI:
    gate = AuthGate(Settings())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)
    _public(app)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"hello": user.sub}

    return app


def resource_app() -> FastAPI:
    verifier = JWKSVerifier.from_jwks_url(
        os.environ["BENCH_JWKS_URL"], issuer=os.environ["BENCH_ISSUER"], audience=AUDIENCE
    )
    app = FastAPI(lifespan=verifier_lifespan(verifier))
    protect(app, verifier, middleware=True)
    _public(app)

    @app.get("/me")
    async def me(principal: VerifierUser) -> dict[str, str]:
        return {"hello": principal.sub}

    return app


# ------------------------------------------------------------------ the load side


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _expired(key_pem: bytes, issuer: str, audience: str) -> str:
    """A token signed by the app's own key that expired an hour ago."""
    clock = FrozenClock(time.time() - 7200)
    ring = KeyRing.single(load_pem(key_pem))
    codec = TokenCodec(ring, issuer=issuer, audience=audience, clock=clock)
    token, _ = codec.issue(sub="stale-client", ttl=300, client_id="web")
    return token


def _login(c: httpx.Client, name: str) -> str:
    c.post("/users", json={"username": name, "password": PASSWORD})
    r = c.post("/auth/token", data={"username": name, "password": PASSWORD})
    if r.status_code != 200:
        raise SystemExit(f"login failed: {r.status_code} {r.text}")
    token: str = r.json()["access_token"]
    return token


def _auth_server_requests(base: str, key_pem: bytes, issuer: str) -> dict[str, str | None]:
    with httpx.Client(base_url=base, timeout=30) as c:
        valid = _login(c, "loadtester")
        revoked = _login(c, "revoked")
        if c.post("/auth/logout", headers={"Authorization": _bearer(revoked)}).status_code != 204:
            raise SystemExit("logout failed")
        audience = Settings().audience
        return {
            "valid": _bearer(valid),
            "expired": _bearer(_expired(key_pem, issuer, audience)),
            "revoked": _bearer(revoked),
            "malformed": MALFORMED,
        }


def _rows(tokens: dict[str, str | None]) -> list[tuple[str, str, str | None, int]]:
    rows = [
        ("GET /public, no Authorization header", "/public", None, 200),
        ("GET /public, expired bearer", "/public", tokens["expired"], 200),
        ("GET /public, malformed bearer", "/public", tokens["malformed"], 200),
        ("GET /public, valid bearer", "/public", tokens["valid"], 200),
        ("GET /me, valid token", "/me", tokens["valid"], 200),
        ("GET /me, expired token (401)", "/me", tokens["expired"], 401),
    ]
    if tokens.get("revoked"):
        rows.append(("GET /me, revoked token (401)", "/me", tokens["revoked"], 401))
    return rows


def _check(base: str, rows: list[tuple[str, str, str | None, int]]) -> None:
    with httpx.Client(base_url=base, timeout=30) as c:
        for label, path, auth, status in rows:
            got = c.get(path, headers={"Authorization": auth} if auth else {}).status_code
            if got != status:
                raise SystemExit(f"{label}: expected {status}, got {got}")


def _measure(
    server: L.Server, rows: list[tuple[str, str, str | None, int]], seconds: int, rounds: int
) -> dict[str, float]:
    _check(server.base, rows)
    for _, path, auth, _ in rows:  # warm-up
        headers = {"Authorization": auth} if auth else None
        L.closed_loop("warm", server.url(path), seconds=1, connections=16, headers=headers)
    samples: dict[str, list[float]] = {label: [] for label, *_ in rows}
    for _ in range(rounds):
        for label, path, auth, _ in rows:
            headers = {"Authorization": auth} if auth else None
            result = L.closed_loop(
                label, server.url(path), seconds=seconds, connections=32, headers=headers
            )
            samples[label].append(result.rps)
    return {label: L.median(values) for label, values in samples.items()}


def verify_floor(n: int = 200, rounds: int = 5) -> dict[str, float]:
    """µs per ``codec.verify`` of distinct valid tokens, no cache: the signature check
    plus claims, the cost a cache miss pays (minimum over rounds)."""
    floors: dict[str, float] = {}
    for alg in ALGORITHMS:
        codec = TokenCodec(KeyRing.single(generate_key(alg)), issuer="https://i", audience="a")
        tokens = [codec.issue(sub=f"u{i}", ttl=600, client_id="web")[0] for i in range(n)]
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            for token in tokens:
                codec.verify(token)
            best = min(best, (time.perf_counter() - started) / n * 1e6)
        floors[alg] = best
    return floors


def _report(name: str, rps: dict[str, float]) -> list[list[object]]:
    labels = list(rps)
    public, me = rps[labels[0]], rps["GET /me, valid token"]
    out: list[list[object]] = []
    for label in labels:
        if label.startswith("GET /public,") and label != labels[0]:
            ratio, target = rps[label] / public, 0.95
        elif "(401)" in label:
            ratio, target = rps[label] / me, 0.9
        elif label == "GET /me, valid token" and name == "middleware":
            ratio, target = rps[label] / public, 0.97
        else:
            out.append([name, label, rps[label], "", ""])
            continue
        verdict = "ok" if ratio >= target else "MISSED"
        out.append([name, label, rps[label], f"{ratio:.2f}x", f">= {target} {verdict}"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="per round and request (max 30)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (max 9)")
    args = parser.parse_args()
    seconds, rounds = min(args.seconds, 30), min(args.rounds, 9)
    L.pin_self()
    print(L.machine_note())
    print(f"load average before: {L.load_average()}")
    floors = verify_floor()
    print(L.table(["algorithm", "µs per verify (codec, no cache)"], list(floors.items())))
    python = L.project_python()
    results: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="authgate-stale-") as tmp:
        key = generate_key("EdDSA")
        key_file = Path(tmp) / "signing.pem"
        key_file.write_bytes(key.private_pem())
        key_file.chmod(0o600)
        for name, factory in (("middleware", "middleware_app"), ("dependency", "dependency_app")):
            port = L.free_port()
            issuer = f"http://127.0.0.1:{port}"
            data = Path(tmp) / name
            data.mkdir()
            argv = L.uvicorn_argv(python, f"benchmarks.stale_tokens:{factory}", port, factory=True)
            env = {
                "AUTHGATE_DATA_DIR": str(data),
                "AUTHGATE_ISSUER": issuer,
                "AUTHGATE_SIGNING_KEY_FILE": str(key_file),
            }
            with L.Server(f"stale-{name}", argv, port, env=env) as server:
                rows = _rows(_auth_server_requests(server.base, key.private_pem(), issuer))
                results += _report(name, _measure(server, rows, seconds, rounds))
        ring = KeyRing.single(generate_key("EdDSA"))
        issuer = "https://issuer.bench"
        jwks, jwks_url = _serve_jwks(ring)
        try:
            codec = TokenCodec(ring, issuer=issuer, audience=AUDIENCE)
            past = FrozenClock(time.time() - 7200)
            stale = TokenCodec(ring, issuer=issuer, audience=AUDIENCE, clock=past)
            tokens: dict[str, str | None] = {
                "valid": _bearer(codec.issue(sub="rs-user", ttl=3600, client_id="web")[0]),
                "expired": _bearer(stale.issue(sub="rs-user", ttl=300, client_id="web")[0]),
                "malformed": MALFORMED,
                "revoked": None,  # needs introspection: the verifier alone cannot know
            }
            port = L.free_port()
            argv = L.uvicorn_argv(python, "benchmarks.stale_tokens:resource_app", port)
            env = {"BENCH_JWKS_URL": jwks_url + "/jwks.json", "BENCH_ISSUER": issuer}
            with L.Server("stale-resource", [*argv, "--factory"], port, env=env) as server:
                results += _report("resource", _measure(server, _rows(tokens), seconds, rounds))
        finally:
            jwks.shutdown()
    print(L.table(["app", "request", "req/s", "ratio", "target"], results))
    print(f"load average after: {L.load_average()}")


def _serve_jwks(ring: KeyRing) -> tuple[ThreadingHTTPServer, str]:
    """The issuer's JWK Set on a loopback port (fetched once, at the app's start)."""
    body = orjson.dumps(ring.jwks())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


if __name__ == "__main__":
    main()
