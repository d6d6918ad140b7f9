"""``authgate users import`` of generated records: records per second and peak memory.

    nice .venv/bin/python benchmarks/user_import.py                 # SQLite, 1,000,000
    nice .venv/bin/python benchmarks/user_import.py --records 200000 --postgres
    nice .venv/bin/python benchmarks/user_import.py --records 20000 --update   # and a re-run

Writes a JSON Lines file of ``--records`` accounts (bcrypt, Argon2id, Django, Werkzeug
and passlib hashes, made once and reused, with e-mail addresses and scopes), then runs
the real CLI in a process of its own, its stderr a pipe, so it prints a plain count
every 100,000 records. The child's resident memory (VmRSS) is sampled every 50 ms; the
peak so far is printed at each count, so a flat column means the import streams.
PostgreSQL gets a database of its own (created, then dropped), at
``AUTHGATE_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``:
only the server and credentials are used). With ``--update``, the same file is
imported a second time with ``--update``: every account exists and none changed, so
the re-run writes every row and cuts nothing off (the cost of comparing each batch
with the stored rows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import bcrypt
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
AUTHGATE = Path(sys.executable).parent / "authgate"
PASSWORD = "wobbly-lantern-orchid-73"
MARKS = (100_000, 500_000, 1_000_000)


def hash_pool() -> list[str]:
    """One hash per format, made by the same libraries the tests use."""
    sys.path.insert(0, str(ROOT / "tests"))
    from passwords.legacy_hashes import MAKERS

    pool = [MAKERS[name](PASSWORD) for name in ("django-pbkdf2_sha256", "passlib-pbkdf2_sha256")]
    pool.append(MAKERS["werkzeug-pbkdf2:sha256"](PASSWORD))
    pool.append(MAKERS["argon2id-argon2-cffi-defaults"](PASSWORD))
    pool += [bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode() for _ in range(4)]
    return pool


def write_records(path: Path, count: int) -> None:
    pool = hash_pool()
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            record = {
                "username": f"user{i:07d}",
                "email": f"user{i:07d}@example.com",
                "email_verified": i % 3 == 0,
                "scopes": ["read"] if i % 10 else ["read", "write"],
                "created_at": 1_500_000_000 + i,
                "password_hash": pool[i % len(pool)],
            }
            out.write(json.dumps(record) + "\n")


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_import(path: Path, env: dict[str, str], batch: int, *, update: bool = False) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    flags = ["--update"] if update else []
    child = subprocess.Popen(
        ["nice", str(AUTHGATE), "users", "import", str(path), "--batch-size", str(batch), *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(child.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert child.stderr is not None
    for line in child.stderr:
        if line.endswith(" records\n"):
            count = int(line.split()[0])
            rate = count / (time.perf_counter() - start)
            print(f"  {count:>9,} records  {rate:>8,.0f}/s  peak RSS {peak[0] / 1024:6.1f} MiB")
        else:
            print("  " + line.rstrip())
    out = child.communicate()[0]
    done.set()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    words = out.split()
    # "imported N, updated M, ...": every record written, inserted or updated.
    records = (
        int(words[1].rstrip(",")) + int(words[3].rstrip(",")) if words[:1] == ["imported"] else 0
    )
    print(f"  {out.strip()}")
    print(f"  total {elapsed:.1f} s wall ({records / elapsed:,.0f}/s), exit {child.returncode}")
    # The import's own CPU time: its rate on one free core, whatever else the
    # machine runs (the wall-clock rate above depends on that).
    print(f"  CPU {cpu:.1f} s in the import process: {records / cpu:,.0f} records per CPU-second")
    print(f"  peak RSS {peak[0] / 1024:.1f} MiB")


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(AUTHGATE_DATA_DIR=str(data_dir), AUTHGATE_PRODUCTION="false")
    return env


async def _pg(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL too")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--update", action="store_true", help="then re-run with --update")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="authgate-import-bench-") as tmp:
        path = Path(tmp) / "users.jsonl"
        began = time.perf_counter()
        write_records(path, args.records)
        size = path.stat().st_size / 2**20
        print(f"{args.records:,} records, {size:.0f} MiB ({time.perf_counter() - began:.0f} s)")
        if not args.no_sqlite:
            print("SQLite:")
            run_import(path, base_env(Path(tmp) / "sqlite"), args.batch_size)
            if args.update:
                print("SQLite, again with --update:")
                run_import(path, base_env(Path(tmp) / "sqlite"), args.batch_size, update=True)
        if args.postgres:
            url = make_url(
                os.environ.get(
                    "AUTHGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
                )
            )
            name = "bench_import_" + secrets.token_hex(4)
            admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
            asyncio.run(_pg(admin, f'CREATE DATABASE "{name}"'))
            try:
                env = base_env(Path(tmp) / "pg")
                env["AUTHGATE_DATABASE_URL"] = url.set(database=name).render_as_string(
                    hide_password=False
                )
                print(f"PostgreSQL (database {name}):")
                run_import(path, env, args.batch_size)
                if args.update:
                    print("PostgreSQL, again with --update:")
                    run_import(path, env, args.batch_size, update=True)
            finally:
                asyncio.run(_pg(admin, f'DROP DATABASE "{name}"'))


if __name__ == "__main__":
    main()
