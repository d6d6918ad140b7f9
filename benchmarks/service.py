"""The auth service in-process (no HTTP): logins, refreshes and the revocation check.

1. One Argon2id verify alone (median) → the ceiling for logins/s is
   bound cores ÷ verify time (the hasher runs at most ``max_concurrent_hashes``, by
   default one per core). Logins/s is measured with 8 concurrent callers on SQLite,
   each logging in to an account of its own, with the throttle on (in memory): one
   verification per account is in flight at a time (SECURITY.md A.7 #47), but
   different accounts must not wait for each other; target ≥ 0.85 of the ceiling.
2. Refreshes/s (rotation: CAS on the old token, new token, session update, audit row,
   EdDSA access token) with 16 concurrent refresh chains, on SQLite and PostgreSQL;
   target ≥ 500/s each.
3. The per-request revocation check (``RevocationState.is_revoked``) with 10,000
   entries in each of its three tables, and a whole cached ``verify_access_token``.

Prints a table and writes the "Service" section of BENCHMARKS.md.

    .venv/bin/python benchmarks/service.py [--seconds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import bcrypt
from sqlalchemy import update
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L

from authgate.errors import AuthError
from authgate.service import AuthService, ClientInfo, open_service
from authgate.service.revocation import KIND_JTI, KIND_SID, KIND_SUB, RevocationEvent
from authgate.settings import Settings, ThrottleSettings
from authgate.store.schema import users

PASSWORD = "plum-otter-harbour-47"
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="bench")
POSTGRES = os.environ.get(
    "AUTHGATE_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        # On, as in production: every login reserves its attempt (A.7 #47).
        throttle=ThrottleSettings(),
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def closed_loop(n: int, seconds: float, step: object) -> float:
    """Operations per second with ``n`` concurrent callers of ``step(index)``."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await step(index)  # type: ignore[operator]
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(n)))
    return done / (time.perf_counter() - started)


async def logins(
    service: AuthService, seconds: float, rounds: int = 3
) -> tuple[float, float, float, float, float, int]:
    """Alternate rounds of (single verify time, logins/s), so drift in the machine's
    load hits both alike; returns medians: verify s, ceiling/s, logins/s, hasher/s."""
    callers = 8
    for index in range(callers):
        await service.register(f"bench-login-{index}", PASSWORD)
    row_hash = await service.hasher.hash(PASSWORD)
    cores = service.hasher.max_concurrency
    singles, rates, hasher_rates, shares = [], [], [], []

    async def login(index: int) -> None:
        await service.login(f"bench-login-{index}", PASSWORD, scope=None, client=CLIENT)

    async def verify(_: int) -> None:
        await service.hasher.verify(PASSWORD, row_hash)

    for _ in range(rounds):
        samples = []
        for _ in range(9):
            started = time.perf_counter()
            await service.hasher.verify(PASSWORD, row_hash)
            samples.append(time.perf_counter() - started)
        singles.append(statistics.median(samples))
        rates.append(await closed_loop(callers, seconds / rounds, login))
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        hasher_rates.append(await closed_loop(callers, seconds / rounds, verify))
        shares.append((cpu_seconds() - cpu0) / (time.perf_counter() - wall0))
    single = statistics.median(singles)
    return (
        single,
        cores / single,
        statistics.median(rates),
        statistics.median(hasher_rates),
        statistics.median(shares),
        cores,
    )


async def refreshes(service: AuthService, seconds: float, chains: int = 16) -> float:
    await service.register("bench-refresh", PASSWORD)
    tokens = [
        (await service.login("bench-refresh", PASSWORD, scope=None, client=CLIENT)).refresh_token
        for _ in range(chains)
    ]

    async def step(index: int) -> None:
        pair = await service.refresh(tokens[index], scope=None, client=CLIENT)
        tokens[index] = pair.refresh_token

    return await closed_loop(chains, seconds, step)


async def failed_login_times(service: AuthService, samples: int = 7) -> dict[str, float]:
    """Median seconds of a failed login (SECURITY.md A.7 #54): an unknown user, and a
    legacy bcrypt account (cost 10) with a wrong password of ≤ 72 and > 72 bytes."""
    user = await service.register("bench-legacy", PASSWORD)
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    async with service.db.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user.id).values(password_hash=legacy))
    kinds = {
        "unknown user": ("bench-nobody", "wrong-" + PASSWORD),
        "bcrypt account, ≤ 72 bytes": ("bench-legacy", "wrong-" + PASSWORD),
        "bcrypt account, > 72 bytes": ("bench-legacy", "wrong-" + PASSWORD * 4),
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(samples):  # interleaved, so load drift hits every kind alike
        for kind, (name, password) in kinds.items():
            started = time.perf_counter()
            with contextlib.suppress(AuthError):
                await service.login(name, password, scope=None, client=ClientInfo())
            times[kind].append(time.perf_counter() - started)
    return {kind: statistics.median(found) for kind, found in times.items()}


async def revocation_check(service: AuthService) -> tuple[float, float]:
    """(is_revoked µs, cached verify_access_token µs) with 3 × 10,000 entries."""
    now = service.clock.now()
    for i in range(10_000):
        for kind in (KIND_JTI, KIND_SID, KIND_SUB):
            service.revocation.apply(RevocationEvent(kind, f"{kind}-{i}", now, now + 3600))
    pair = await service.login("bench-refresh", PASSWORD, scope=None, client=CLIENT)
    verified = await service.verify_access_token(pair.access_token)
    check = service.revocation.is_revoked
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        check(verified)
    per_check = (time.perf_counter() - started) / n * 1e6
    m = 50_000
    started = time.perf_counter()
    for _ in range(m):
        await service.verify_access_token(pair.access_token)
    per_verify = (time.perf_counter() - started) / m * 1e6
    return per_check, per_verify


async def with_postgres(seconds: float, data_dir: Path) -> float | None:
    name = "authgate_bench_" + secrets.token_hex(6)
    admin = make_url(POSTGRES).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(admin)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: {exc}")
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
        service = await open_service(settings_for(data_dir, url))
        try:
            return await refreshes(service, seconds)
        finally:
            await service.aclose()
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def run(seconds: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await open_service(settings_for(Path(tmp) / "sqlite", None))
        try:
            single, ceiling, login_rate, hasher_rate, share, cores = await logins(
                sqlite, seconds * 2
            )
            sqlite_refresh = await refreshes(sqlite, seconds)
            per_check, per_verify = await revocation_check(sqlite)
        finally:
            await sqlite.aclose()
        # The throttle off here: these failures would soon block the accounts.
        quiet = settings_for(Path(tmp) / "timing", None)
        quiet.throttle = ThrottleSettings(enabled=False)
        timing_service = await open_service(quiet)
        try:
            failed = await failed_login_times(timing_service)
        finally:
            await timing_service.aclose()
        pg_refresh = await with_postgres(seconds, Path(tmp) / "pg")
    rows: list[list[object]] = [
        ["Argon2id verify, alone", f"{single * 1000:.1f} ms", ""],
        [f"login ceiling ({cores} cores ÷ verify)", f"{ceiling:.1f}/s", ""],
        [
            "logins/s (SQLite, 8 callers, 8 accounts, throttle on)",
            f"{login_rate:.1f}/s",
            f"{login_rate / ceiling:.2f}× ceiling",
        ],
        [
            "bare verifies/s (same hasher, 8 callers)",
            f"{hasher_rate:.1f}/s",
            f"logins = {login_rate / hasher_rate:.2f}× this",
        ],
        [
            "CPU this process got during bare verifies",
            f"{share:.2f} cores",
            f"of {os.cpu_count()}; the rest went to other processes",
        ],
        ["refreshes/s (SQLite, 16 chains)", f"{sqlite_refresh:.0f}/s", "target ≥ 500"],
        [
            "refreshes/s (PostgreSQL, 16 chains)",
            f"{pg_refresh:.0f}/s" if pg_refresh is not None else "skipped",
            "target ≥ 500",
        ],
        ["revocation check (is_revoked, 3 × 10k entries)", f"{per_check:.2f} µs", "no I/O"],
        ["verify_access_token, cached token", f"{per_verify:.2f} µs", "incl. revocation"],
    ]
    rows[7:7] = [
        [f"failed login: {kind}", f"{seconds * 1000:.1f} ms", "median (A.7 #54)"]
        for kind, seconds in failed.items()
    ]
    return L.table(["measure", "result", "note"], rows)


def load_note() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return ""
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) when it finished"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()
    table = asyncio.run(run(args.seconds))
    print(table)
    print(load_note())
    if args.no_write:
        return
    cpu = L.machine_note().split(";")[0]
    body = (
        f"{cpu}; Python {sys.version.split()[0]}; in-process, no HTTP; SQLite in WAL "
        "mode on the local disk, PostgreSQL on loopback, both on the same machine; "
        f"{load_note()}. "
        f"`python benchmarks/service.py --seconds {args.seconds:g}`.\n\n"
        f"{table}\n\n"
        "A login is one Argon2id verify (OWASP parameters, in worker threads capped at "
        "one per core) between the throttle's reservation and its settlement (in "
        "memory here), plus a read and one write transaction (the user row locked at "
        "its credential version, session, refresh-token hash, audit row); each caller "
        "logs in to its own account, since one account has one verification in flight "
        "at a time (SECURITY.md A.7 #47). The ceiling assumes every bound core is free "
        "for hashing; the bare-verify row runs the same hasher with the same 8 callers "
        "in alternate rounds, so when other processes take CPU (see the load average) it is the "
        "fairer yardstick (the CPU row shows how much of the machine the hasher "
        "actually got). A refresh is one write transaction: compare-and-set on the "
        "old token's hash, the new hash, the session's idle expiry and an audit row "
        "(on SQLite run whole in one worker-thread hop; on PostgreSQL two statements, "
        "UPDATE … FROM … RETURNING and a data-modifying CTE), then an EdDSA access "
        "token. The revocation check is three dict lookups. The failed-login rows "
        "(throttle off, interleaved samples): a password over 72 bytes costs a legacy "
        "bcrypt account one bcrypt run at its own cost factor, like any other wrong "
        "password (SECURITY.md A.7 #54); an unknown user costs one Argon2id verify."
    )
    L.write_section("Service", body)
    print(f"\nwrote the Service section of {L.BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
