"""``ClientCredentialsAuth``: its per-call cost with a cached token, and the
client_credentials tokens per second a real ``authgate serve`` mints.

A real ``authgate serve`` (SQLite, one worker, pinned to one core) gets an API and a
client registered with the CLI. Then:

1. per-call overhead: ``sync_auth_flow`` / ``async_auth_flow`` of a warm
   ``ClientCredentialsAuth`` (its token fetched once from the server) on a prepared
   request, driven as httpx drives it for a 2xx answer (first step: the request
   leaves with its header; then the response goes in and the flow ends); medians of
   short rounds, next to the bare header assignment it cannot go below;
2. client_credentials tokens/s over HTTP (client_secret_basic, ``resource``), a
   closed loop of ``--concurrency`` httpx connections, and ``GET /users/me`` req/s
   in the same run for the ratio.

    .venv/bin/python benchmarks/cc_auth.py [--seconds 5] [--concurrency 4] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L

from authgate.verifier import ClientCredentialsAuth

ORDERS = "https://orders.internal"
PASSWORD = "amber-lantern-orbit-73"
ROUNDS = 30
PER_ROUND = 20_000


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [str(L.PROJECT_VENV / "bin" / "authgate"), *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def per_call_us(auth: ClientCredentialsAuth) -> dict[str, float]:
    request = httpx.Request("GET", "https://orders.internal/api/orders")
    ok = httpx.Response(200)

    def bare() -> None:
        for _ in range(PER_ROUND):
            request.headers["Authorization"] = "Bearer x"

    def sync_flow() -> None:
        for _ in range(PER_ROUND):
            flow = auth.sync_auth_flow(request)
            next(flow)
            try:  # noqa: SIM105 - a context manager would add its own cost to the loop
                flow.send(ok)
            except StopIteration:
                pass

    async def async_flow() -> None:
        for _ in range(PER_ROUND):
            flow = auth.async_auth_flow(request)
            await flow.__anext__()
            try:  # noqa: SIM105 - as above
                await flow.asend(ok)
            except StopAsyncIteration:
                pass

    rounds: dict[str, list[float]] = {"bare header": [], "sync_auth_flow": [], "async": []}
    loop = asyncio.new_event_loop()
    try:
        for _ in range(ROUNDS):  # interleaved, so load changes hit all three alike
            for name, run in (("bare header", bare), ("sync_auth_flow", sync_flow)):
                start = time.perf_counter()
                run()
                rounds[name].append((time.perf_counter() - start) / PER_ROUND * 1e6)
            start = time.perf_counter()
            loop.run_until_complete(async_flow())
            rounds["async"].append((time.perf_counter() - start) / PER_ROUND * 1e6)
    finally:
        loop.close()
    assert auth.requests_sent == 1, "the cache must stay warm"
    return {name: statistics.median(values) for name, values in rounds.items()}


async def closed_loop(
    call: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    base: str,
    seconds: float,
    concurrency: int,
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            answer = await call(http)
            assert answer.status_code == 200, answer.text
            done += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, trust_env=False) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per HTTP measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="closed-loop connections")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()
    L.pin_self()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"AUTHGATE_DATA_DIR": str(Path(tmp) / "data")}
        port = L.free_port()
        server = L.Server("authgate-cc", L.authgate_argv(port), port, env, ready_path="/healthz")
        with server:
            cli(env, "apis", "create", "orders", "--audience", ORDERS, "--scope", "orders:read")
            created = cli(
                env, "clients", "create", "reporter", "--grant", "client_credentials",
                "--scope", "orders:read", "--json",
            )  # fmt: skip
            client = json.loads(created)
            cli(env, "users", "create", "bench", "--password-stdin", stdin=PASSWORD)
            form = {"grant_type": "password", "username": "bench", "password": PASSWORD}
            login = httpx.post(server.url("/auth/token"), data=form).json()["access_token"]

            auth = ClientCredentialsAuth(
                server.url("/auth/token"), client["client_id"], client["client_secret"],
                resource=ORDERS,
            )  # fmt: skip
            with httpx.Client(auth=auth, trust_env=False) as http:
                http.get(server.url("/healthz"))  # the one token request
            flows = per_call_us(auth)

            basic = (client["client_id"], client["client_secret"])
            cc_form = {"grant_type": "client_credentials", "resource": ORDERS}
            bearer = {"Authorization": f"Bearer {login}"}
            tokens = asyncio.run(
                closed_loop(
                    lambda h: h.post("/auth/token", data=cc_form, auth=basic),
                    server.base, args.seconds, args.concurrency,
                )
            )  # fmt: skip
            me = asyncio.run(
                closed_loop(
                    lambda h: h.get("/users/me", headers=bearer),
                    server.base, args.seconds, args.concurrency,
                )
            )  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    flow_table = L.table(
        ["path (warm cache)", "µs per call"], [[name, us] for name, us in flows.items()]
    )
    http_table = L.table(
        ["over HTTP (SQLite, 1 worker)", "per second"],
        [
            ["client_credentials tokens (basic, resource)", tokens],
            ["GET /users/me (same run)", me],
            ["ratio tokens / users-me", f"{tokens / me:.2f}"],
        ],
    )
    print(flow_table, "\n", http_table, sep="\n")
    if args.no_write:
        return
    cpu = L.machine_note().split(";")[0]
    body = (
        f"{cpu}; Python {sys.version.split()[0]}; load average at the end {load}. "
        f"`python benchmarks/cc_auth.py --seconds {args.seconds:g} --concurrency "
        f"{args.concurrency}`; target ≤ 5 µs per call with a cached token.\n\n"
        f"{flow_table}\n\n"
        f"Medians of {ROUNDS} interleaved rounds of {PER_ROUND:,} calls: the auth flow driven "
        "as httpx drives it for a 2xx answer (the request leaves with its `Authorization` "
        "header, the response goes in, the flow ends). `async` is `async_auth_flow` "
        "driven by one coroutine. "
        "The bare header assignment is the floor every auth pays.\n\n"
        f"{http_table}\n\n"
        f"A closed loop of {args.concurrency} httpx connections for {args.seconds:g} s each, "
        "the load generator on the other core; /users/me with a login token. The absolute "
        "rates follow the machine's load (the load average above; an httpx load generator "
        "is also far slower than wrk); the ratio to /users/me in the same run is the "
        "comparable figure."
    )
    L.write_section("ClientCredentialsAuth (issue 15)", body)
    print(f"\nwrote the ClientCredentialsAuth section of {L.BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
