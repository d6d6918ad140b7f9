"""Password hashing cost: Argon2id at the default settings beside a bcrypt cost-12 verify.

Measures, in-process (no HTTP):

1. One Argon2id hash and one verify (median ms), and a bcrypt cost-12 verify.
2. Verify throughput (verifies/s) through ``PasswordHasher`` with a cap of 1 and 2
   concurrent hashes, and bcrypt cost 12 in a pool of 1 and 2 threads, with the
   worst event-loop stall seen meanwhile (a 5 ms ticker; the loop should never wait
   on a hash); and argon2-cffi alone in 1 and 2 processes, the machine's ceiling.
3. The hashing-DoS guard: ``check_length`` on a 1 MB password, and one policy check
   (zxcvbn) on a typical passphrase.

Prints a table and writes the "Passwords" section of BENCHMARKS.md.

    .venv/bin/python benchmarks/passwords.py [--seconds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import bcrypt
from pwdlib.hashers.argon2 import Argon2Hasher

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L

from authgate.errors import InvalidRequest
from authgate.passwords import PasswordHasher
from authgate.settings import PasswordSettings

PASSWORD = "plum-otter-harbour-47"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed(func: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await func()
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(
    verify: Callable[[], Awaitable[object]], workers: int, seconds: float
) -> tuple[float, float]:
    """Verifies/s with ``workers`` concurrent callers, and the worst loop stall (ms)."""
    deadline = time.perf_counter() + seconds
    done = 0
    worst_gap = 0.0

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await verify()
            done += 1

    async def ticker() -> None:
        nonlocal worst_gap
        last = time.perf_counter()
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst_gap = max(worst_gap, now - last - 0.005)
            last = now

    started = time.perf_counter()
    await asyncio.gather(ticker(), *(caller() for _ in range(workers)))
    return done / (time.perf_counter() - started), worst_gap * 1000


async def run(seconds: float) -> tuple[str, list[list[object]]]:
    settings = PasswordSettings()
    hasher = PasswordHasher(settings)
    stored = await hasher.hash(PASSWORD)
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=12))
    rows: list[list[object]] = []

    hash_ms = median_ms(await timed(lambda: hasher.hash(PASSWORD), 20))
    verify_ms = median_ms(await timed(lambda: hasher.verify(PASSWORD, stored), 20))

    pool = ThreadPoolExecutor(max_workers=2)

    async def bcrypt_verify() -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, bcrypt.checkpw, PASSWORD.encode(), legacy)

    bcrypt_ms = median_ms(await timed(bcrypt_verify, 5))
    params = (
        f"m={settings.argon2_memory_kib} KiB, t={settings.argon2_time_cost}, "
        f"p={settings.argon2_parallelism}"
    )
    rows.append(["Argon2id hash", params, hash_ms, "", ""])
    rows.append(["Argon2id verify", params, verify_ms, "", ""])
    rows.append(["bcrypt verify", "cost 12", bcrypt_ms, "", ""])

    for workers in (1, 2):
        capped = PasswordHasher(settings.model_copy(update={"max_concurrent_hashes": workers}))
        rate, stall = await throughput(
            lambda h=capped: h.verify(PASSWORD, stored), workers, seconds
        )
        capped.close()
        rows.append([f"Argon2id verify, {workers} worker(s)", params, 1000 / rate, rate, stall])
    for workers in (1, 2):
        bpool = ThreadPoolExecutor(max_workers=workers)

        async def bverify(p: ThreadPoolExecutor = bpool) -> bool:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(p, bcrypt.checkpw, PASSWORD.encode(), legacy)

        rate, stall = await throughput(bverify, workers, seconds)
        bpool.shutdown()
        rows.append([f"bcrypt verify, {workers} worker(s)", "cost 12", 1000 / rate, rate, stall])
    pool.shutdown()
    for processes in (1, 2):
        # The hardware ceiling: argon2-cffi alone in separate processes (no GIL at all).
        with ProcessPoolExecutor(max_workers=processes) as procs:
            job = (stored, settings.argon2_memory_kib, settings.argon2_time_cost, seconds)
            counts = list(procs.map(_verify_for, [job] * processes))
        rate = sum(counts) / seconds
        rows.append([f"argon2-cffi alone, {processes} process(es)", params, 1000 / rate, rate, ""])

    huge = "a" * 1_000_000
    samples = []
    for _ in range(1000):
        started = time.perf_counter()
        with contextlib.suppress(InvalidRequest):
            hasher.check_length(huge)
        samples.append(time.perf_counter() - started)
    reject_ms = f"{median_ms(samples):.4f}"
    rows.append(["check_length, 1 MB password (rejected)", "", reject_ms, "", ""])
    policy = await timed(_as_async(lambda: hasher.check_policy("horse-staple-glacier-mint")), 50)
    rows.append(["check_policy (zxcvbn), 25-char passphrase", "", median_ms(policy), "", ""])
    hasher.close()

    headers = ["operation", "parameters", "ms each", "per second", "worst loop stall (ms)"]
    return L.table(headers, rows), rows


def _verify_for(job: tuple[str, int, int, float]) -> int:
    """Verify in a loop for ``seconds`` in this (worker) process; returns the count."""
    stored, memory, time_cost, seconds = job
    hasher = Argon2Hasher(memory_cost=memory, time_cost=time_cost, parallelism=1)
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        hasher.verify(PASSWORD, stored)
        count += 1
    return count


def _as_async(func: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    async def wrapper() -> object:
        return func()

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput run")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()
    table, _ = asyncio.run(run(args.seconds))
    print(table)
    if args.no_write:
        return
    cpu = L.machine_note().split(";")[0]
    load = os.getloadavg()[0]
    body = (
        f"{cpu}; Python {sys.version.split()[0]}; in-process, no HTTP; load average "
        f"{load:.1f} when the run ended. "
        f"`python benchmarks/passwords.py --seconds {args.seconds:g}`.\n\n"
        f"{table}\n\n"
        '"ms each" for the worker rows is 1 / throughput. Argon2id runs in worker '
        "threads under a semaphore (cap = `max_concurrent_hashes`, default one per "
        f"core, here {os.cpu_count()}). The loop stall column is the worst extra delay "
        "of a 5 ms asyncio ticker while the verifies ran: a hash run on the loop would "
        "stall it by a whole hash time every time; what remains is the scheduler's "
        "doing and grows with the machine's load. With 2 cores shared by other jobs "
        "(see the load average), every figure here is inflated. The argon2-cffi rows "
        "are the hardware's ceiling: if 2 processes are no faster than 1, more hash "
        "threads cannot help either (Argon2id is memory-hard: 19 MiB per hash). "
        "A 1 MB password is "
        "refused by `check_length` before any normalising or hashing."
    )
    L.write_section("Passwords", body)
    print(f"\nwrote the Passwords section of {L.BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
