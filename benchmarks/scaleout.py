"""One vs two authgate instances sharing PostgreSQL and Redis, over HTTP.

* req/s of the protected route (benchmarks/authgate_app.py, ``CurrentUser``) and
  logins/s, with one instance and with two (load split evenly);
* the revocation propagation delay: logout acknowledged by A → first 401 on B,
  many samples, with Redis (pub/sub) and with the database poll alone (no Redis).

On a 2-core machine two instances cannot show more throughput than one: the
"2 instances, core 0" row gives them the same CPU as one (so it measures the cost of
sharing state), the "2 instances, cores 0+1" row gives each its own core but the load
generator then competes with instance B. Writes the "Scale-out" section of
BENCHMARKS.md and plots under benchmarks/plots/.

    python benchmarks/scaleout.py [--samples 200] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L
import compare as C

PROTECTED = "/protected/dependency"
CAVEAT = (
    "Caveat: when other jobs share the machine, the kernel splits a contended core among "
    "runnable threads, so two server processes on core 0 get a larger slice of it than "
    "one; a *2 instances, core 0* ratio above 1.0 comes from that, not from the "
    "instances."
)


def verdict(rows: list[Row]) -> str:
    """What the rows show, from the numbers of this run."""
    base, two_cores = rows[0], rows[-1]
    errors = sum(r.verify.errors for r in rows)
    return (
        f"In this run a second instance on the second core gave "
        f"{two_cores.verify.rps / base.verify.rps:.2f}× the protected req/s and "
        f"{two_cores.logins / base.logins:.2f}× the logins/s of one instance, with "
        f"{errors} errors across all layouts (the load generator shares that core, so "
        "2× is the ceiling, not the expectation)."
    )


class PrivateRedis:
    """Our own redis-server on a free loopback port (the machine's one is shared)."""

    def __init__(self) -> None:
        self.port = L.free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{L.LOOPBACK}:{self.port}/0"

    def __enter__(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed")
        argv = [binary, "--port", str(self.port), "--bind", L.LOOPBACK, "--save", ""]
        argv += ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*L.taskset(L.SERVER_CPU), *argv], stdout=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)


def instance(name: str, tmp: Path, env: dict[str, str], cpu: int) -> L.Server:
    port = L.free_port()
    argv = L.uvicorn_argv(
        L.project_python(), "benchmarks.authgate_app:build_dependency", port, factory=True
    )
    return L.Server(name, argv, port, env={**C.authgate_env(tmp / name), **env}, cpu=cpu)


async def make_token(server: L.Server, username: str) -> str:
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        body = {"username": username, "password": C.PASSWORD}
        response = await client.post(server.url("/users"), json=body)
        if response.status_code not in (201, 409):
            response.raise_for_status()
        form = {"grant_type": "password", "username": username, "password": C.PASSWORD}
        response = await client.post(server.url("/auth/token"), data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])


def split_load(
    label: str, targets: list[L.Server], token: str, *, seconds: int, conns: int
) -> L.LoadResult:
    """wrk on every instance at once, connections split evenly; req/s summed."""
    headers = {"Authorization": f"Bearer {token}"}
    per = max(1, conns // len(targets))
    with ThreadPoolExecutor(len(targets)) as pool:
        futures = [
            pool.submit(
                L.closed_loop,
                label,
                s.url(PROTECTED),
                seconds=seconds,
                connections=per,
                headers=headers,
            )
            for s in targets
        ]
        results = [f.result() for f in futures]
    return L.LoadResult(
        label,
        sum(r.requests for r in results),
        max(r.seconds for r in results),
        max(r.p50_ms for r in results),
        max(r.p99_ms for r in results),
        sum(r.errors for r in results),
        results[0].db.engine,
    )


async def logins_per_second(targets: list[L.Server], *, seconds: float, clients: int) -> float:
    import httpx

    form = {"grant_type": "password", "username": "scaleuser", "password": C.PASSWORD}
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int) -> bool:
            server = targets[i % len(targets)]
            response = await client.post(server.url("/auth/token"), data=form)
            return bool(response.status_code == 200)

        ok, _, elapsed = await L.hammer(one, clients=clients, seconds=seconds)
    return ok / elapsed


async def propagation(a: L.Server, b: L.Server, *, samples: int, limit_s: float) -> list[float]:
    """Delays (ms) from A acknowledging a logout to B's first 401 for that token."""
    import httpx

    delays: list[float] = []
    form = {"grant_type": "password", "username": "scaleuser", "password": C.PASSWORD}
    async with httpx.AsyncClient(timeout=30) as ca, httpx.AsyncClient(timeout=30) as cb:
        for _ in range(samples):
            response = await ca.post(a.url("/auth/token"), data=form)
            response.raise_for_status()
            auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
            if (await cb.get(b.url(PROTECTED), headers=auth)).status_code != 200:
                raise RuntimeError("a fresh token from A is not accepted by B")
            # A random phase, so the samples do not lock onto the database poll's period.
            await asyncio.sleep(random.uniform(0.0, 0.6))
            response = await ca.post(a.url("/auth/logout"), headers=auth)
            if response.status_code != 204:
                raise RuntimeError(f"logout on A: {response.status_code}")
            acked = time.perf_counter()
            while True:
                status = (await cb.get(b.url(PROTECTED), headers=auth)).status_code
                now = time.perf_counter()
                if status == 401:
                    delays.append((now - acked) * 1e3)
                    break
                if now - acked > limit_s:
                    raise RuntimeError(f"B still accepts a token {limit_s} s after logout")
    return delays


@dataclass
class Row:
    label: str
    verify: L.LoadResult
    logins: float


def run_layouts(tmp: Path, env: dict[str, str], args: argparse.Namespace) -> list[Row]:
    """Three instances at once: A and B on the server core, C on the other one. Each
    round loads [A], [A, B] and [A, C] back to back, so drift hits every layout alike."""
    a = instance("scale-a", tmp, env, L.SERVER_CPU)
    b = instance("scale-b", tmp, env, L.SERVER_CPU)
    layouts: list[tuple[str, list[L.Server]]] = [
        ("1 instance, core 0", [a]),
        ("2 instances, core 0", [a, b]),
    ]
    servers = [a, b]
    if L.TWO_CORES:
        c = instance("scale-c", tmp, env, L.LOAD_CPU)
        layouts.append(("2 instances, cores 0+1", [a, c]))
        servers.append(c)
    runs: dict[str, list[L.LoadResult]] = {label: [] for label, _ in layouts}
    logins: dict[str, list[float]] = {label: [] for label, _ in layouts}
    with L.servers(*servers):
        token = asyncio.run(make_token(a, "scaleuser"))
        for r in range(args.rounds):
            for label, group in layouts:
                res = split_load(label, group, token, seconds=args.seconds, conns=args.connections)
                runs[label].append(res)
                print(f"  round {r + 1} {label:24} {res.rps:8,.0f} req/s", flush=True)
        for r in range(args.login_rounds):
            for label, group in layouts:
                rate = asyncio.run(logins_per_second(group, seconds=args.login_seconds, clients=4))
                logins[label].append(rate)
                print(f"  round {r + 1} {label:24} {rate:6.1f} logins/s", flush=True)
    rows = [
        Row(label, L.median_result(runs[label]), L.median(logins[label])) for label, _ in layouts
    ]
    for row in rows:
        print(
            f"  {row.label:26} {row.verify.rps:8,.0f} req/s p50 {row.verify.p50_ms:6.2f} ms "
            f"p99 {row.verify.p99_ms:7.2f} ms  logins/s {row.logins:6.1f}",
            flush=True,
        )
    return rows


def main() -> None:
    L.reexec_in_bench_venv()
    L.pin_self()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--fallback-samples", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--login-seconds", type=float, default=4.0)
    parser.add_argument("--login-rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.fallback_samples, args.rounds, args.seconds = 30, 10, 1, 2
        args.login_seconds, args.login_rounds = 2.0, 1
    missing = C.library_missing()
    if missing:
        raise SystemExit(f"authgate is not importable: {missing}")
    args.load_start = L.load_average()
    print(L.machine_note(), f"load average at start: {args.load_start}", flush=True)
    pg = C.create_postgres_db()
    if pg is None:
        raise SystemExit("PostgreSQL on 127.0.0.1:5432 is needed (CREATE DATABASE failed)")
    rows: list[Row] = []
    delays: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="authgate-scale-") as tmpdir, PrivateRedis() as r:
            tmp = Path(tmpdir)
            shared = {
                "AUTHGATE_DATABASE_URL": pg[1],
                "AUTHGATE_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            }
            env = {**shared, "AUTHGATE_REDIS_URL": r.url}
            print("== throughput (rounds interleaved across layouts)", flush=True)
            rows = run_layouts(tmp, env, args)
            print("== revocation propagation (logout on A → first 401 on B)", flush=True)
            for label, extra, n in (
                ("Redis pub/sub", env, args.samples),
                ("database poll only (no Redis)", shared, args.fallback_samples),
            ):
                a = instance("prop-a", tmp, extra, L.SERVER_CPU)
                b = instance("prop-b", tmp, extra, L.SERVER_CPU)
                with L.servers(a, b):
                    asyncio.run(make_token(a, "scaleuser"))
                    delays[label] = asyncio.run(propagation(a, b, samples=n, limit_s=10))
                d = delays[label]
                print(
                    f"  {label:30} n={len(d)} p50 {L.pct(d, 50):7.2f} ms "
                    f"p99 {L.pct(d, 99):7.2f} ms max {max(d):7.2f} ms",
                    flush=True,
                )
    finally:
        C.drop_postgres_db(pg[0])
    report(rows, delays, args)


def report(rows: list[Row], delays: dict[str, list[float]], args: Any) -> None:
    base = rows[0]
    table = L.table(
        [
            "layout",
            "protected req/s",
            "p50 ms",
            "p99 ms",
            "÷ 1 instance",
            "logins/s",
            "÷ 1 instance",
            "errors",
        ],
        [
            [
                r.label,
                r.verify.rps,
                r.verify.p50_ms,
                r.verify.p99_ms,
                f"{r.verify.rps / base.verify.rps:.2f}",
                r.logins,
                f"{r.logins / base.logins:.2f}",
                r.verify.errors,
            ]
            for r in rows
        ],
    )
    prop = L.table(
        ["propagation path", "samples", "p50 ms", "p99 ms", "max ms"],
        [[k, len(v), L.pct(v, 50), L.pct(v, 99), max(v)] for k, v in delays.items()],
    )
    L.bar_plot(
        L.PLOTS_DIR / "scaleout.png",
        "One vs two instances (PostgreSQL + Redis): ÷ one instance",
        [r.label for r in rows],
        {
            "protected req/s": [r.verify.rps / base.verify.rps for r in rows],
            "logins/s": [r.logins / base.logins for r in rows],
        },
        "ratio to one instance",
        hline=1.0,
    )
    L.cdf_plot(
        L.PLOTS_DIR / "revocation_propagation.png",
        "Revocation propagation: logout acknowledged on A → first 401 on B",
        delays,
        "delay (ms, log scale)",
    )
    print(table, prop, sep="\n\n")
    if args.no_write:
        return
    L.write_section(
        "Scale-out",
        f"`python benchmarks/scaleout.py` (rounds={args.rounds}, {args.seconds} s per run, "
        f"{args.connections} connections split across the instances; medians; rounds "
        f"interleaved across layouts; logins/s: median of {args.login_rounds} rounds of "
        f"{args.login_seconds} s). "
        f"{L.machine_note()} Load average at start {args.load_start}, at end "
        f"{L.load_average()}. Instances: benchmarks/authgate_app.py (`CurrentUser` route) "
        "under uvicorn, one fresh PostgreSQL database and a private redis-server shared "
        "by all; logins/s with 4 clients spread over the instances.\n\n"
        "On this 2-core machine a second instance cannot add CPU: *2 instances, core 0* "
        "gives both the one server core (the cost of sharing state), *2 instances, "
        "cores 0+1* gives each a core but the load generator then shares core 1 with "
        f"instance B.\n\n{table}\n\n{verdict(rows)} {CAVEAT}\n\n"
        "![scale-out](benchmarks/plots/scaleout.png)\n\n"
        "### Revocation propagation\n\n"
        "A logs in, B accepts the token, A logs out (204), then B is polled back-to-back "
        "until it answers 401; the delay runs from A's acknowledgement to that 401 "
        "(it includes one poll round trip). Each sample waits a random 0–600 ms before "
        f"the logout, so samples do not lock onto the database poller's 0.5 s period.\n\n{prop}\n\n"
        "![revocation propagation](benchmarks/plots/revocation_propagation.png)",
    )


if __name__ == "__main__":
    main()
