"""The cost of a failed login per stored-hash format (SECURITY.md A.7 #54): one
wrong-password ``PasswordHasher.verify`` against a hash made by each library at its
own defaults, beside the unknown-user dummy (one Argon2id verify at authgate's
defaults). Median of ``--runs`` runs, in ms, in-process, one at a time.

    nice .venv/bin/python benchmarks/legacy_hashes.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import bcrypt

from authgate.passwords import PasswordHasher
from authgate.settings import PasswordSettings

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "wobbly-lantern-orchid-73"
WRONG = "amber-thistle-gondola-19"


async def main(runs: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from passwords.legacy_hashes import MAKERS

    hasher = PasswordHasher(PasswordSettings())
    made = {name: MAKERS[name](PASSWORD) for name in MAKERS if not name.startswith("bcrypt")}
    made["bcrypt cost 12 (passlib's default)"] = bcrypt.hashpw(
        PASSWORD.encode(), bcrypt.gensalt(12)
    ).decode()

    async def unknown() -> None:
        await hasher.verify_dummy(WRONG)

    async def timed(job_name: str, stored: str | None) -> None:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            if stored is None:
                await unknown()
            else:
                assert await hasher.verify(WRONG, stored) == (False, None)
            samples.append((time.perf_counter() - start) * 1000)
        print(f"| {job_name} | {statistics.median(samples):.0f} |")

    await unknown()  # the dummy hash is made once, lazily
    print("| stored hash (wrong password) | ms |\n|---|---:|")
    await timed("unknown user: the Argon2id dummy (m=19 MiB, t=2, p=1)", None)
    for name, stored in made.items():
        await timed(name, stored)
    hasher.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
