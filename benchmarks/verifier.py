"""The JWKS verifier's cost next to the server's own TokenCodec, per algorithm.

Both sides verify the same tokens: the server's codec (the auth service's hot
path: TokenCodec + VerifiedTokenCache over its own key ring) and a JWKSVerifier
whose keys came over HTTP from a loopback JWKS. "cold" is the first verification
of each distinct token (signature + claims), "cached" the repeat (cache hit).
The verifier's numbers include its ``await``; the target is "equal within noise"
(cached: against the server codec behind the same ``await``).

Also measured: rejecting tokens with random (unknown) kids while the refetch
rate limit holds, the path an attacker flooding the verifier takes.

    .venv/bin/python benchmarks/verifier.py [--tokens 2000] [--rounds 300] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L
from cryptography.hazmat.primitives.asymmetric import ed25519

from authgate.errors import UnknownKey
from authgate.tokens import EdDSAKey, KeyRing, TokenCodec, VerifiedTokenCache, generate_key
from authgate.verifier import JWKSVerifier

ALGORITHMS = ("EdDSA", "ES256", "RS256", "PS256")
AUDIENCE = "orders"
CACHED_PASSES = 20
ROUND_TOKENS = 20


def serve_jwks(ring: KeyRing) -> tuple[ThreadingHTTPServer, str]:
    body = orjson.dumps(ring.jwks())

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=300")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def sync_us(codec: TokenCodec, tokens: list[str], passes: int = 1) -> float:
    verify = codec.verify
    started = time.perf_counter()
    for _ in range(passes):
        for token in tokens:
            verify(token)
    return (time.perf_counter() - started) / (len(tokens) * passes) * 1e6


class AwaitedCodec:
    """The server's codec behind the same ``async verify_access_token`` interface
    (what the auth service's hot path is: no I/O, one await)."""

    def __init__(self, codec: TokenCodec) -> None:
        self.codec = codec

    async def verify_access_token(self, token: str) -> object:
        return self.codec.verify(token)


async def async_us(
    verifier: JWKSVerifier | AwaitedCodec, tokens: list[str], passes: int = 1
) -> float:
    verify = verifier.verify_access_token
    started = time.perf_counter()
    for _ in range(passes):
        for token in tokens:
            await verify(token)
    return (time.perf_counter() - started) / (len(tokens) * passes) * 1e6


async def bench_alg(alg: str, n: int, rounds: int) -> list[object]:
    """``rounds`` short rounds; each takes ``ROUND_TOKENS`` tokens neither side has
    seen (cold), then re-verifies them ``CACHED_PASSES`` times (cached). Both sides
    take turns within every round, so a preemption hits one round, not one side."""
    ring = KeyRing.single(generate_key(alg))
    server, url = serve_jwks(ring)
    issuer = url  # the tokens' iss; the JWKS is fetched from url + "/jwks"
    signer = TokenCodec(ring, issuer=issuer, audience=AUDIENCE)
    tokens = [signer.issue(sub=f"u{i}", ttl=3600, client_id="web")[0] for i in range(n)]
    cache = VerifiedTokenCache(n + 1)
    codec = TokenCodec(ring, issuer=issuer, audience=AUDIENCE, cache=cache)
    awaited = AwaitedCodec(codec)
    verifier = JWKSVerifier.from_jwks_url(
        url + "/jwks", issuer=issuer, audience=AUDIENCE, cache_size=n + 1
    )
    await verifier.start()
    assert verifier.codec.cache is not None
    results: dict[str, list[float]] = {k: [] for k in ("sc", "vc", "sh", "sa", "vh")}
    try:
        for r in range(rounds):
            offset = (r * ROUND_TOKENS) % n
            if offset + ROUND_TOKENS > n:
                offset = 0
            if offset == 0:
                cache.clear()
                verifier.codec.cache.clear()
            batch = tokens[offset : offset + ROUND_TOKENS]
            results["sc"].append(sync_us(codec, batch))
            results["vc"].append(await async_us(verifier, batch))
            results["sh"].append(sync_us(codec, batch, CACHED_PASSES))
            results["sa"].append(await async_us(awaited, batch, CACHED_PASSES))
            results["vh"].append(await async_us(verifier, batch, CACHED_PASSES))
        fetches = verifier.status().fetches
    finally:
        await verifier.aclose()
        server.shutdown()
        server.server_close()
    assert fetches == 1, "the benchmark must not refetch keys"
    med = {k: statistics.median(v) for k, v in results.items()}
    cold_ratio = statistics.median(v / s for v, s in zip(results["vc"], results["sc"], strict=True))
    hot_ratio = statistics.median(v / s for v, s in zip(results["vh"], results["sa"], strict=True))
    return [
        alg,
        med["sc"],
        med["vc"],
        f"{cold_ratio:.2f}×",
        med["sh"],
        med["sa"],
        med["vh"],
        f"{hot_ratio:.2f}×",
    ]


async def bench_flood(n: int) -> tuple[float, int]:
    """µs per rejected unknown-kid token, and JWKS fetches it caused."""
    ring = KeyRing.single(generate_key("EdDSA"))
    server, url = serve_jwks(ring)
    attacker = ed25519.Ed25519PrivateKey.generate()
    tokens = []
    for _ in range(n):
        key = EdDSAKey(attacker, kid=secrets.token_urlsafe(12))
        codec = TokenCodec(KeyRing.single(key), issuer=url, audience=AUDIENCE)
        tokens.append(codec.issue(sub="x", ttl=600, client_id="x")[0])
    verifier = JWKSVerifier.from_jwks_url(url + "/jwks", issuer=url, audience=AUDIENCE)
    await verifier.start()
    try:
        # The first unknown kid is allowed one refetch; time the rate-limited rest.
        with contextlib.suppress(UnknownKey):
            await verifier.verify_access_token(tokens[0])
        started = time.perf_counter()
        for token in tokens[1:]:
            with contextlib.suppress(UnknownKey):
                await verifier.verify_access_token(token)
        elapsed = time.perf_counter() - started
        fetches = verifier.status().fetches
    finally:
        await verifier.aclose()
        server.shutdown()
        server.server_close()
    return elapsed / (n - 1) * 1e6, fetches


async def run(n: int, rounds: int) -> tuple[str, str]:
    rows = [await bench_alg(alg, n, rounds) for alg in ALGORITHMS]
    headers = [
        "alg",
        "server codec cold µs",
        "verifier cold µs",
        "ratio",
        "server codec cached µs",
        "same, awaited µs",
        "verifier cached µs",
        "ratio to awaited",
    ]
    flood_us, fetches = await bench_flood(n)
    flood = (
        f"Unknown-kid flood: {n} tokens with random kids → {flood_us:.2f} µs per rejection, "
        f"{fetches} JWKS fetches in all (the start-up fetch plus one permitted refetch)."
    )
    return L.table(headers, rows), flood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per algorithm")
    parser.add_argument("--rounds", type=int, default=300, help="short interleaved rounds")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()
    table, flood = asyncio.run(run(args.tokens, args.rounds))
    print(table)
    print()
    print(flood)
    if args.no_write:
        return
    cpu = L.machine_note().split(";")[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    body = (
        f"{cpu}; Python {sys.version.split()[0]}; load average at the end {load}; "
        "in-process, keys fetched once over loopback HTTP. "
        f"`python benchmarks/verifier.py --tokens {args.tokens} "
        f"--rounds {args.rounds}`: µs per verification, medians of {args.rounds} short "
        f"rounds; each round takes {ROUND_TOKENS} tokens neither side has seen (cold), then "
        f"re-verifies them {CACHED_PASSES} times (cached), both sides taking turns; the "
        "ratios are medians of the per-round ratios.\n\n"
        f"{table}\n\n"
        "Both sides run the same `TokenCodec.verify` and `VerifiedTokenCache`. cold = "
        "first sight of a token (signature and claims), cached = a repeat (cache hit). "
        '"same, awaited" is the server codec behind an `async verify_access_token` (the '
        "auth service's hot path has that shape too). The verifier adds nothing on top of "
        "it: key freshness is its background task's job, and only an unknown `kid` "
        "leaves the hot path.\n\n"
        f"{flood}"
    )
    L.write_section("Verifier", body)
    print(f"\nwrote the Verifier section of {L.BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
