"""authgate beside the FastAPI tutorial recipe and fastapi-users, over HTTP, in one run.

1. Verification path: req/s and p50/p99 of a public route and of the same app's
   protected route (authgate: dependency and middleware; recipe; fastapi-users).
   Targets: authgate protected / public >= 0.9; authgate >= 2x the recipe.
2. Login storm: p99 of GET /users/me (paced probe) while clients hammer the token
   endpoint, divided by its idle p99. Target: authgate <= 3.
3. Logins and refreshes per second through HTTP, authgate on SQLite and PostgreSQL,
   the baselines beside it.

Writes the "Comparison" and "Login storm" sections of BENCHMARKS.md and PNG plots to
benchmarks/plots/. Runs itself under .venv-bench (created on first use); the authgate
servers run under the project's .venv.

    python benchmarks/compare.py [--rounds 3] [--seconds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L

PASSWORD = "correct horse battery staple 42"

HOW_TO_RUN = """\
How to run: `make bench-http` (or `python benchmarks/compare.py`; `--quick` for a smoke
run). The baselines live in their own virtualenv, `.venv-bench`, created on first use
from `benchmarks/requirements-baselines.txt` (`python benchmarks/_load.py setup`):
python-jose, passlib and fastapi-users never enter the project's `.venv` (SECURITY.md
#46 asserts their absence). passlib 1.7.4 breaks on bcrypt 5 (its wrap-bug self-test
raises on the 72-byte limit) and logs a trapped `bcrypt.__about__` AttributeError on
bcrypt ≥ 4.1; tutorial users pin `bcrypt==4.0.1`, but fastapi-users 15 needs
bcrypt ≥ 4.1, so the shared baseline venv pins `bcrypt>=4.1,<5`. Throughput uses
`wrk` (`apt-get install wrk`; without it a slower httpx closed loop stands in and the
numbers say so). Servers: uvicorn, one worker, uvloop + httptools, access log off."""

INPROCESS_NOTE = """\
The same routes with the ASGI app called directly (`benchmarks/_inprocess.py`: no
uvicorn, no sockets, no load generator; 7 rounds of 2,000 calls alternating public and
protected, median µs per call, pinned to core 0). On a shared machine this is the
steadier view of what authentication itself costs. "auth cost" = protected − public.
The authgate apps call `gate.install(app)` before declaring their own routes, as the
README does: FastAPI passes the auth endpoints' router (`AuthRouter`) with a substring
test, ~1 µs for the app's routes behind it. (Before, the ~15 included auth routes cost
every request of the app ~24 µs: the public route was 58 µs vs the recipe's 39 µs in
process, 2026-11-26.)"""

STORM_NOTE = """\
The recipe and fastapi-users hash inside the event loop (synchronous bcrypt / Argon2 in
an `async def` route), so every request waits behind every hash. authgate hashes in
worker threads, capped by `passwords.max_concurrent_hashes` (0 = the cores the process
may use, `os.sched_getaffinity`): with the server pinned to one core, one hash runs at a
time beside the event loop. The row *1 hash at a time* sets
`AUTHGATE_PASSWORDS__MAX_CONCURRENT_HASHES=1` explicitly, which is now the same thing
(before the default followed `os.cpu_count()`, the middleware's ratio was 4.57)."""

VERIFICATION_NOTE = """\
Closed loop (wrk, keep-alive) on each app's public route and on the same app's
protected route with a valid Bearer token, rounds interleaved across all apps. The
recipe's protected route decodes HS256 with python-jose and builds two pydantic
models; fastapi-users' JWT strategy decodes with PyJWT and then loads the user from
SQLite on every request; authgate verifies an EdDSA token against its key ring, the
verified-token cache and the in-memory revocation state, with no I/O."""


@dataclass
class Target:
    name: str
    server: L.Server
    public: str
    protected: dict[str, str]
    me: str
    #: Log in once (registering first when the app needs it); returns an access token.
    get_token: Callable[[Any], Awaitable[str]]
    #: One login request for the storm; True when it succeeded.
    login_once: Callable[[Any], Awaitable[bool]]
    note: str = ""
    results: dict[str, list[L.LoadResult]] = field(default_factory=dict)


# ---------------------------------------------------------------------- targets


def recipe_target(port: int) -> Target:
    server = L.Server(
        "recipe", L.uvicorn_argv(L.bench_python(), "benchmarks.recipe_app:app", port), port
    )
    form = {"username": "johndoe", "password": "secret"}

    async def login(client: Any) -> bool:
        response = await client.post(server.url("/token"), data=form)
        return bool(response.status_code == 200)

    async def token(client: Any) -> str:
        response = await client.post(server.url("/token"), data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])

    return Target(
        "recipe",
        server,
        "/public",
        {"Depends(get_current_active_user)": "/users/me"},
        "/users/me",
        token,
        login,
        note="python-jose HS256, passlib bcrypt (12 rounds), sync hash in async route",
    )


def fastapi_users_target(port: int, tmp: Path) -> Target:
    server = L.Server(
        "fastapi-users",
        L.uvicorn_argv(L.bench_python(), "benchmarks.fastapi_users_app:app", port),
        port,
        env={"FASTAPI_USERS_DB": str(tmp / "fastapi_users.db")},
    )
    email = "bench@example.com"
    form = {"username": email, "password": PASSWORD}

    async def login(client: Any) -> bool:
        response = await client.post(server.url("/auth/jwt/login"), data=form)
        return bool(response.status_code == 200)

    async def token(client: Any) -> str:
        body = {"email": email, "password": PASSWORD}
        response = await client.post(server.url("/auth/register"), json=body)
        if response.status_code not in (201, 400):  # 400: already registered
            response.raise_for_status()
        response = await client.post(server.url("/auth/jwt/login"), data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])

    return Target(
        "fastapi-users",
        server,
        "/public",
        {"current_user(active=True)": "/users/me"},
        "/users/me",
        token,
        login,
        note="JWT strategy (PyJWT HS256) + a SQLite user lookup per request; pwdlib Argon2 "
        "defaults (t=3, m=64 MiB, p=4), sync hash in async route",
    )


def _missing(probe: str) -> str | None:
    done = subprocess.run(
        [str(L.project_python()), "-c", probe], capture_output=True, text=True, check=False
    )
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def library_missing() -> str | None:
    """None when benchmarks/authgate_app.py can run (web layer + service), else why."""
    return _missing(
        "from authgate.endpoints import AuthGate; from authgate.service import open_service"
    )


def serve_missing() -> str | None:
    """None when ``authgate serve`` exists, else why."""
    done = subprocess.run(
        [str(L.PROJECT_VENV / "bin" / "authgate"), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else (done.stderr.strip() or "no serve command")


def authgate_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        "AUTHGATE_DATA_DIR": str(data_dir),
        "AUTHGATE_ISSUER": "http://127.0.0.1",
        # The storm and the rate tests log in a lot from one IP: they measure hashing
        # and the event loop, not the failed-login throttle (logins here all succeed).
        "AUTHGATE_THROTTLE__ENABLED": "false",
    }
    if database_url:
        env["AUTHGATE_DATABASE_URL"] = database_url
    return env


def authgate_login_fns(
    server: L.Server, username: str
) -> tuple[Callable[[Any], Awaitable[str]], Callable[[Any], Awaitable[bool]]]:
    form = {"grant_type": "password", "username": username, "password": PASSWORD}

    async def login(client: Any) -> bool:
        response = await client.post(server.url("/auth/token"), data=form)
        return bool(response.status_code == 200)

    async def token(client: Any) -> str:
        body = {"username": username, "password": PASSWORD}
        response = await client.post(server.url("/users"), json=body)
        if response.status_code not in (201, 409, 400):
            response.raise_for_status()
        response = await client.post(server.url("/auth/token"), data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])

    return token, login


def authgate_app_targets(tmp: Path) -> list[Target]:
    """benchmarks/authgate_app.py: the dependency app and the middleware app."""
    targets = []
    for kind, label, path in (
        ("dependency", "CurrentUser dependency", "/protected/dependency"),
        ("middleware", "AuthMiddleware", "/protected/mw"),
    ):
        port = L.free_port()
        server = L.Server(
            f"authgate-{kind}",
            L.uvicorn_argv(
                L.project_python(), f"benchmarks.authgate_app:build_{kind}", port, factory=True
            ),
            port,
            env=authgate_env(tmp / f"authgate-{kind}"),
        )
        token, login = authgate_login_fns(server, "benchlib")
        targets.append(
            Target(
                f"authgate ({kind})",
                server,
                "/public",
                {label: path},
                "/users/me",
                token,
                login,
                note="EdDSA access tokens, verified-token cache, Argon2id (OWASP minimum: "
                "19 MiB, t=2) in worker threads",
            )
        )
    return targets


def one_hash_at_a_time(tmp: Path) -> Target:
    """The dependency app with ``max_concurrent_hashes=1``: the hash cap matched to the
    one core the server is pinned to, set explicitly (the default cap follows the
    affinity mask, ``os.sched_getaffinity``, so this row now matches the default)."""
    port = L.free_port()
    argv = L.uvicorn_argv(
        L.project_python(), "benchmarks.authgate_app:build_dependency", port, factory=True
    )
    env = {**authgate_env(tmp / "one-hash"), "AUTHGATE_PASSWORDS__MAX_CONCURRENT_HASHES": "1"}
    server = L.Server("authgate-one-hash", argv, port, env=env)
    token, login = authgate_login_fns(server, "benchlib")
    return Target(
        "authgate (dependency, 1 hash at a time)", server, "/public", {}, "/users/me", token, login
    )


def authgate_rate_target(name: str, data_dir: Path, database_url: str | None = None) -> Target:
    """Logins and refreshes: ``authgate serve`` when it exists, else the library app."""
    port = L.free_port()
    env = authgate_env(data_dir, database_url)
    if serve_missing() is None:
        server = L.Server(
            "authgate-serve", L.authgate_argv(port), port, env=env, ready_path="/healthz"
        )
    else:
        argv = L.uvicorn_argv(
            L.project_python(), "benchmarks.authgate_app:build_dependency", port, factory=True
        )
        server = L.Server("authgate-lib", argv, port, env=env)
    token, login = authgate_login_fns(server, "benchserve")
    return Target(name, server, "/public", {}, "/users/me", token, login)


# ------------------------------------------------------------- the measurements


async def fetch_tokens(targets: list[Target]) -> dict[str, str]:
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        return {t.name: await t.get_token(client) for t in targets}


def verification_path(
    targets: list[Target], tokens: dict[str, str], *, rounds: int, seconds: int, conns: int
) -> None:
    """Interleaved rounds so drift hits every target alike."""
    for r in range(rounds):
        for t in targets:
            auth = {"Authorization": f"Bearer {tokens[t.name]}"}
            runs = [("public", t.public, None)]
            runs += [(label, path, auth) for label, path in t.protected.items()]
            for label, path, headers in runs:
                res = L.closed_loop(
                    label, t.server.url(path), seconds=seconds, connections=conns, headers=headers
                )
                t.results.setdefault(label, []).append(res)
                print(
                    f"  round {r + 1} {t.name:14} {label:32} {res.rps:8,.0f} req/s "
                    f"p50 {res.p50_ms:6.2f} ms p99 {res.p99_ms:7.2f} ms err {res.errors}",
                    flush=True,
                )


@dataclass
class Storm:
    name: str
    idle_p99: float
    storm_p99: float
    idle_p50: float
    storm_p50: float
    logins_ok: int
    logins_failed: int
    probe_errors: int

    rounds_ratio: float | None = None

    @property
    def ratio(self) -> float:
        if self.rounds_ratio is not None:
            return self.rounds_ratio
        return self.storm_p99 / self.idle_p99


def median_storm(runs: list[Storm]) -> Storm:
    """Medians over rounds; the ratio is the median of the per-round ratios."""
    return Storm(
        runs[0].name,
        L.median([r.idle_p99 for r in runs]),
        L.median([r.storm_p99 for r in runs]),
        L.median([r.idle_p50 for r in runs]),
        L.median([r.storm_p50 for r in runs]),
        sum(r.logins_ok for r in runs),
        sum(r.logins_failed for r in runs),
        sum(r.probe_errors for r in runs),
        rounds_ratio=L.median([r.ratio for r in runs]),
    )


async def login_storm(t: Target, token: str, *, seconds: float, clients: int, rate: float) -> Storm:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    url = t.server.url(t.me)
    limits = httpx.Limits(max_connections=64)
    async with (
        httpx.AsyncClient(timeout=60, limits=limits) as probe_client,
        httpx.AsyncClient(timeout=60, limits=limits) as storm_client,
    ):
        await L.paced_probe(probe_client, url, seconds=1, rate=rate, headers=headers)  # warm
        idle = await L.paced_probe(probe_client, url, seconds=seconds, rate=rate, headers=headers)

        async def one(_: int) -> bool:
            return await t.login_once(storm_client)

        storm_task = asyncio.create_task(L.hammer(one, clients=clients, seconds=seconds + 1.0))
        await asyncio.sleep(0.5)  # let the storm build up
        busy = await L.paced_probe(probe_client, url, seconds=seconds, rate=rate, headers=headers)
        ok, failed, _ = await storm_task
    errors = sum(n for code, n in busy.statuses.items() if code != 200)
    errors += sum(n for code, n in idle.statuses.items() if code != 200)
    if errors:
        print(f"  {t.name}: probe statuses idle {idle.statuses} storm {busy.statuses}")
    return Storm(t.name, idle.p(99), busy.p(99), idle.p(50), busy.p(50), ok, failed, errors)


@dataclass
class Rates:
    name: str
    logins: float
    refreshes: float | None


async def rates(t: Target, *, seconds: float, clients: int, refresh: bool) -> Rates:
    import httpx

    async with httpx.AsyncClient(timeout=60) as client:
        await t.get_token(client)
        ok, _, elapsed = await L.hammer(
            lambda _: t.login_once(client), clients=clients, seconds=seconds
        )
        logins = ok / elapsed
        if not refresh:
            return Rates(t.name, logins, None)
        form = {"grant_type": "password", "username": "benchserve", "password": PASSWORD}
        chains: list[str] = []
        for _ in range(clients):
            response = await client.post(t.server.url("/auth/token"), data=form)
            response.raise_for_status()
            chains.append(response.json()["refresh_token"])

        async def rotate(i: int) -> bool:
            body = {"grant_type": "refresh_token", "refresh_token": chains[i]}
            response = await client.post(t.server.url("/auth/token"), data=body)
            if response.status_code != 200:
                return False
            chains[i] = response.json()["refresh_token"]
            return True

        ok, failed, elapsed = await L.hammer(rotate, clients=clients, seconds=seconds)
        if failed:
            print(f"  {t.name}: {failed} refreshes failed", flush=True)
        return Rates(t.name, logins, ok / elapsed)


def create_postgres_db() -> tuple[str, str] | None:
    """A fresh database on the local PostgreSQL, or None when it is not there."""
    name = f"authgate_bench_{uuid.uuid4().hex[:10]}"
    done = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
            f"CREATE DATABASE {name}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_postgres_db(name: str) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        ],
        capture_output=True,
        check=False,
    )


INPROCESS_KINDS = {
    "recipe": "recipe",
    "fastapi-users": "fastapi-users",
    "authgate (dependency)": "authgate-dependency",
    "authgate (middleware)": "authgate-middleware",
}


def inprocess(targets: list[Target]) -> dict[str, dict[str, float]]:
    """µs per request of each app's public and protected route, ASGI called directly
    (benchmarks/_inprocess.py under the app's own virtualenv, pinned to the server core)."""
    out: dict[str, dict[str, float]] = {}
    for t in targets:
        kind = INPROCESS_KINDS.get(t.name)
        if kind is None:
            continue
        python = L.project_python() if kind.startswith("authgate") else L.bench_python()
        done = subprocess.run(
            [*L.taskset(L.SERVER_CPU), str(python), str(L.BENCH_DIR / "_inprocess.py"), kind],
            capture_output=True,
            text=True,
            check=True,
            cwd=L.ROOT,
            timeout=600,
        )
        out[t.name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  {t.name:22} public {out[t.name]['public']:7.1f} µs "
            f"protected {out[t.name]['protected']:8.1f} µs",
            flush=True,
        )
    return out


def report_inprocess(results: dict[str, dict[str, float]]) -> str:
    rows = []
    for name, r in results.items():
        extra = r["protected"] - r["public"]
        rows.append(
            [name, r["public"], r["protected"], extra, f"{r['public'] / r['protected']:.2f}"]
        )
    text = L.table(
        ["app", "public µs", "protected µs", "auth cost µs", "protected ÷ public (app only)"],
        rows,
    )
    cost = {name: r["protected"] - r["public"] for name, r in results.items()}
    lines = []
    for name in ("authgate (dependency)", "authgate (middleware)"):
        if name in cost and "recipe" in cost and cost[name] > 0:
            lines.append(
                f"- {name}: its auth costs {cost[name]:.1f} µs a request, "
                f"**{cost['recipe'] / cost[name]:.1f}× less** than the recipe's "
                f"({cost['recipe']:.1f} µs)"
                + (
                    f" and {cost['fastapi-users'] / cost[name]:.0f}× less than fastapi-users'"
                    if "fastapi-users" in cost
                    else ""
                )
            )
    return text + ("\n\n" + "\n".join(lines) if lines else "")


# ------------------------------------------------------------------- reporting


def report_verification(targets: list[Target], plot: Path) -> str:
    rows: list[list[object]] = []
    public_rps: dict[str, float] = {}
    protected_rps: dict[str, float] = {}
    for t in targets:
        for label, runs in t.results.items():
            m = L.median_result(runs)
            if label == "public":
                public_rps[t.name] = m.rps
            else:
                protected_rps.setdefault(t.name, m.rps)
                protected_rps[t.name] = min(protected_rps[t.name], m.rps)
            ratio = m.rps / public_rps[t.name] if label != "public" else 1.0
            rows.append([t.name, label, m.rps, m.p50_ms, m.p99_ms, f"{ratio:.2f}", m.errors])
    apps = [t.name.replace(" (", "\n(") for t in targets]
    L.bar_plot(
        plot,
        "Verification path: median req/s, public vs protected route (higher is better)",
        apps,
        {
            "public route": [public_rps[t.name] for t in targets],
            "protected route": [protected_rps[t.name] for t in targets],
        },
        "requests / second",
    )
    text = L.table(["app", "route", "req/s", "p50 ms", "p99 ms", "÷ own public", "errors"], rows)
    # Ratios per round (the runs of one round are back to back), then their median:
    # steadier than a ratio of medians when the machine's load drifts.
    by_name = {t.name: t for t in targets}

    def protected_runs(t: Target) -> list[float]:
        label = next(k for k in t.results if k != "public")
        return [r.rps for r in t.results[label]]

    def ratio(num: list[float], den: list[float]) -> float:
        return L.median([x / y for x, y in zip(num, den, strict=True)])

    summary = ["Median of the per-round ratios:"]
    for t in targets:
        if not t.name.startswith("authgate"):
            continue
        mine = protected_runs(t)
        own = ratio(mine, [r.rps for r in t.results["public"]])
        parts = [f"protected ÷ public **{own:.2f}** (target ≥ 0.9: {verdict(own >= 0.9)})"]
        for other in ("recipe", "fastapi-users"):
            if other in by_name:
                vs = ratio(mine, protected_runs(by_name[other]))
                target = f" (target ≥ 2×: {verdict(vs >= 2.0)})" if other == "recipe" else ""
                parts.append(f"÷ {other} protected **{vs:.2f}×**{target}")
        summary.append(f"- {t.name}: " + "; ".join(parts))
    for other in ("recipe", "fastapi-users"):
        if other in by_name:
            t = by_name[other]
            own = ratio(protected_runs(t), [r.rps for r in t.results["public"]])
            summary.append(f"- {other}: protected ÷ public {own:.2f}")
    if "recipe" in by_name:
        t = by_name["recipe"]
        ceiling = ratio([r.rps for r in t.results["public"]], protected_runs(t))
        summary.append(
            f"\nFor scale: the recipe's *unauthenticated* public route is {ceiling:.2f}× its "
            'protected route here, so "≥ 2× the recipe" asks for a protected route faster '
            "than a route with no authentication at all unless the recipe's auth costs more "
            "than half of its request; the fair reading is protected ÷ public."
        )
    summary.append(
        "\nThe dependency form pays FastAPI's resolution of one `Security` dependency, "
        "which authgate cannot remove: the HTTP section measures a dependency that does "
        "nothing beside `CurrentUser`, and the Authorization header's own bytes."
    )
    return text + ("\n\n" + "\n".join(summary) if summary else "")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report_storm(storms: list[Storm], plot: Path) -> str:
    rows = [
        [
            s.name,
            s.idle_p50,
            s.idle_p99,
            s.storm_p50,
            s.storm_p99,
            f"{s.ratio:.2f}",
            s.logins_ok,
            s.logins_failed,
            s.probe_errors,
        ]
        for s in storms
    ]
    L.bar_plot(
        plot,
        "GET /users/me p99 during a login storm ÷ idle p99 (lower is better)",
        [s.name.replace(" (", "\n(").replace(", ", ",\n") for s in storms],
        {"p99 ratio": [s.ratio for s in storms]},
        "storm p99 / idle p99 (log)",
        hline=3.0,
        log=True,
    )
    verdicts = [
        f"- {s.name}: p99 ratio {s.ratio:.2f} (target ≤ 3: {verdict(s.ratio <= 3.0)})"
        for s in storms
        if s.name.startswith("authgate")
    ]
    return L.table(
        [
            "app",
            "idle p50 ms",
            "idle p99 ms",
            "storm p50 ms",
            "storm p99 ms",
            "p99 ratio",
            "logins ok",
            "logins failed",
            "probe non-200",
        ],
        rows,
    ) + ("\n\n" + "\n".join(verdicts) if verdicts else "")


def report_rates(all_rates: list[Rates], plot: Path) -> str:
    rows = [[r.name, r.logins, "–" if r.refreshes is None else r.refreshes] for r in all_rates]
    L.bar_plot(
        plot,
        "Logins and refreshes per second through HTTP",
        [r.name for r in all_rates],
        {
            "logins/s": [r.logins for r in all_rates],
            "refreshes/s": [r.refreshes or 0.0 for r in all_rates],
        },
        "per second (log)",
        log=True,
    )
    return L.table(["server", "logins/s", "refreshes/s"], rows)


# -------------------------------------------------------------------------- main


def main() -> None:
    L.reexec_in_bench_venv()
    L.pin_self()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="per closed-loop run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--storm-seconds", type=float, default=6.0)
    parser.add_argument("--storm-clients", type=int, default=8)
    parser.add_argument("--storm-rounds", type=int, default=3)
    parser.add_argument("--probe-rate", type=float, default=100.0)
    parser.add_argument("--rate-seconds", type=float, default=6.0)
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s, short storms")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.storm_seconds, args.rate_seconds = 1, 2, 3.0, 3.0
        args.storm_rounds = 1

    missing = library_missing()
    if missing:
        print(f"authgate library not importable yet ({missing}); baselines only", flush=True)
    no_serve = serve_missing()
    if no_serve:
        print(f"`authgate serve` not available yet ({no_serve[-200:]})", flush=True)
    load_start = L.load_average()
    print(L.machine_note(), f"load average at start: {load_start}", flush=True)
    with tempfile.TemporaryDirectory(prefix="authgate-bench-") as tmpdir:
        tmp = Path(tmpdir)
        targets = [recipe_target(L.free_port()), fastapi_users_target(L.free_port(), tmp)]
        storm_only: list[Target] = []
        if not missing:
            targets += authgate_app_targets(tmp)
            storm_only.append(one_hash_at_a_time(tmp))
        storms: list[Storm] = []
        with L.servers(*(t.server for t in targets + storm_only)):
            tokens = asyncio.run(fetch_tokens(targets + storm_only))
            print("== verification path", flush=True)
            verification_path(
                targets, tokens, rounds=args.rounds, seconds=args.seconds, conns=args.connections
            )
            print("== verification path in-process (ASGI, no network)", flush=True)
            in_process = inprocess(targets)
            print("== login storm", flush=True)
            storm_rounds: dict[str, list[Storm]] = {}
            for t in [t for _ in range(args.storm_rounds) for t in targets + storm_only]:
                s = asyncio.run(
                    login_storm(
                        t,
                        tokens[t.name],
                        seconds=args.storm_seconds,
                        clients=args.storm_clients,
                        rate=args.probe_rate,
                    )
                )
                print(
                    f"  {s.name:14} idle p99 {s.idle_p99:7.2f} ms storm p99 "
                    f"{s.storm_p99:8.2f} ms ratio {s.ratio:6.2f} logins {s.logins_ok}",
                    flush=True,
                )
                storm_rounds.setdefault(s.name, []).append(s)
            storms = [median_storm(runs) for runs in storm_rounds.values()]
        print("== logins and refreshes per second", flush=True)
        all_rates: list[Rates] = []
        for t in targets[:2]:
            with L.servers(t.server):
                all_rates.append(
                    asyncio.run(rates(t, seconds=args.rate_seconds, clients=4, refresh=False))
                )
        if not missing:
            rate_targets = [(authgate_rate_target("authgate SQLite", tmp / "rates-sqlite"), None)]
            one = authgate_rate_target("authgate SQLite, 1 hash at a time", tmp / "rates-one")
            one.server.env["AUTHGATE_PASSWORDS__MAX_CONCURRENT_HASHES"] = "1"
            rate_targets.append((one, None))
            pg = create_postgres_db()
            if pg:
                rate_targets.append(
                    (authgate_rate_target("authgate PostgreSQL", tmp / "rates-pg", pg[1]), pg[0])
                )
            try:
                for t, _ in rate_targets:
                    with L.servers(t.server):
                        all_rates.append(
                            asyncio.run(
                                rates(t, seconds=args.rate_seconds, clients=4, refresh=True)
                            )
                        )
            finally:
                if pg:
                    drop_postgres_db(pg[0])
        for r in all_rates:
            refreshes = "–" if r.refreshes is None else f"{r.refreshes:,.1f}"
            print(f"  {r.name:20} logins/s {r.logins:7.1f} refreshes/s {refreshes}", flush=True)

    comparison = report_verification(targets, L.PLOTS_DIR / "verification.png")
    in_process_table = report_inprocess(in_process)
    storm = report_storm(storms, L.PLOTS_DIR / "login_storm.png")
    rate_table = report_rates(all_rates, L.PLOTS_DIR / "logins_refreshes.png")
    print(comparison, storm, rate_table, sep="\n\n")
    if args.no_write:
        return
    run = (
        f"`python benchmarks/compare.py` (rounds={args.rounds}, {args.seconds} s per run, "
        f"{args.connections} connections; medians of the rounds). {L.machine_note()} "
        f"Load average (1/5/15 min) at start {load_start}, at end {L.load_average()} "
        "(the benchmark's own server and load generator keep it near 1–2 on 2 cores; "
        "more means other work shared the machine): read ratios, not absolute numbers."
    )
    by_note = {t.note: t.name.split(" (")[0] for t in targets if t.note}
    notes = "\n".join(f"- **{name}**: {note}" for note, name in by_note.items())
    L.write_section(
        "Comparison",
        f"{run}\n\n{HOW_TO_RUN}\n\nWhat runs:\n{notes}\n\n"
        f"### Verification path\n\n{VERIFICATION_NOTE}\n\n{comparison}\n\n"
        "![verification path](benchmarks/plots/verification.png)\n\n"
        f"### Verification path without the network\n\n{INPROCESS_NOTE}\n\n"
        f"{in_process_table}\n\n"
        f"### Logins and refreshes per second (HTTP, 4 clients)\n\n{rate_table}\n\n"
        "Login rates measure the password hash each app chose (bcrypt 12 rounds, "
        "Argon2 64 MiB, Argon2id 19 MiB), not the framework.\n\n"
        "![logins and refreshes](benchmarks/plots/logins_refreshes.png)",
    )
    L.write_section(
        "Login storm",
        f"{args.storm_clients} clients post to the token endpoint for {args.storm_seconds} s "
        f"({args.storm_rounds} rounds, medians; the ratio is the median of the per-round "
        "ratios) "
        f"while a paced probe ({args.probe_rate:.0f} req/s over 4 lanes) reads GET /users/me; "
        "the ratio is the probe's p99 during the storm ÷ its idle p99 (target for authgate: "
        f"≤ 3).\n\n{storm}\n\n{STORM_NOTE}\n\n"
        "![login storm](benchmarks/plots/login_storm.png)",
    )


if __name__ == "__main__":
    main()
