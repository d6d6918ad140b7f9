"""Passkey cost: WebAuthn assertion verification alone and through the auth service.

Measures, in-process (no HTTP), SQLite file, with a software authenticator (an EC
P-256 key, as in tests/passkeys) producing real assertions:

1. ``verify_assertion`` alone (the ``webauthn`` package's §7.2 checks and one ECDSA
   P-256 verification): verifications/s and ms each, on the calling thread.
2. The same, 8 concurrent callers, run on the event loop itself and run in worker
   threads (``asyncio.to_thread``, as the service does): verifications/s and the worst
   event-loop stall (a 5 ms ticker).
3. A whole passkey sign-in through ``passkey_login`` (challenge taken, credential read,
   throttle, verification in a thread, counter compare-and-set and session in one
   transaction), 8 users signing in concurrently; the request options and the
   assertions are made beforehand (not timed): sign-ins/s and the worst loop stall.

    .venv/bin/python benchmarks/passkeys.py [--seconds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import _load as L
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from authgate.clock import SystemClock
from authgate.domain import Passkey
from authgate.service import AuthService, ClientInfo, open_service
from authgate.service.webauthn_ceremony import RelyingParty, verify_assertion
from authgate.settings import Settings, ThrottleSettings
from passkeys._authenticator import SoftAuthenticator

ISSUER = "https://login.example.test"
PASSWORD = "plum-otter-harbour-47-lantern"
CLIENT = ClientInfo(ip="127.0.0.1", user_agent="bench")
CALLERS = 8


async def with_ticker(work: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    """``work()``'s count, and the worst extra delay (ms) of a 5 ms sleep meanwhile."""
    worst = 0.0
    stop = False

    async def tick() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.005)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        done = await work()
    finally:
        stop = True
        await ticker
    return done, worst * 1000


def fixture(rp: RelyingParty) -> tuple[Passkey, SoftAuthenticator, dict[str, Any], bytes]:
    """A registered passkey and one assertion of it (counter 0: replayable here)."""
    auth = SoftAuthenticator(origin=ISSUER, counter_start=0)
    options = {
        "rp": {"id": rp.id},
        "user": {"id": "dXNlcg"},
        "challenge": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    }
    auth.create(options)
    cred = auth.credentials[-1]
    passkey = Passkey(
        id=bytes_to_base64url(cred.id),
        user_id="user",
        public_key=cred.cose_key(),
        sign_count=0,
        transports=(),
        name="bench",
        created_at=0.0,
        last_used_at=None,
        backup_eligible=False,
        backed_up=False,
    )
    assertion = auth.get(options)
    return passkey, auth, assertion, base64url_to_bytes(options["challenge"])


async def verification_rows(seconds: float) -> list[list[object]]:
    rp = RelyingParty.of(Settings(issuer=ISSUER))
    passkey, _auth, assertion, challenge = fixture(rp)

    def one() -> object:
        return verify_assertion(
            rp, assertion, challenge=challenge, passkey=passkey, require_user_verification=True
        )

    rows: list[list[object]] = []
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        one()
        done += 1
    rate = done / (time.perf_counter() - started)
    rows.append(["verify_assertion alone (one thread)", f"{rate:,.0f}", f"{1000 / rate:.3f}", ""])

    for label, threaded in (("on the event loop", False), ("in worker threads", True)):

        async def work(threaded: bool = threaded) -> int:
            deadline = time.perf_counter() + seconds
            count = 0

            async def caller() -> None:
                nonlocal count
                while time.perf_counter() < deadline:
                    if threaded:
                        await asyncio.to_thread(one)
                    else:
                        one()
                        await asyncio.sleep(0)
                    count += 1

            await asyncio.gather(*(caller() for _ in range(CALLERS)))
            return count

        started = time.perf_counter()
        count, stall = await with_ticker(work)
        rate = count / (time.perf_counter() - started)
        rows.append(
            [
                f"verify_assertion, {CALLERS} callers, {label}",
                f"{rate:,.0f}",
                f"{1000 / rate:.3f}",
                f"{stall:.2f}",
            ]
        )
    return rows


async def login_row(seconds: float, data_dir: Path) -> list[object]:
    settings = Settings(
        data_dir=data_dir,
        issuer=ISSUER,
        throttle=ThrottleSettings(registrations_per_ip_per_hour=1000),
    )
    service: AuthService = await open_service(settings, clock=SystemClock())
    try:
        authenticators = []
        for i in range(CALLERS):
            user = await service.register(f"bench{i}", PASSWORD)
            auth = SoftAuthenticator(origin=ISSUER)
            options = await service.passkey_registration_options(
                user.id, session_id=None, current_password=PASSWORD, client=CLIENT
            )
            await service.register_passkey(
                user.id, auth.create(options), name="bench", client=CLIENT
            )
            authenticators.append(auth)
        per_caller = max(20, int(seconds * 150 / CALLERS))
        ready = [
            [auth.get(await service.passkey_login_options()) for _ in range(per_caller)]
            for auth in authenticators
        ]

        async def work() -> int:
            async def caller(assertions: list[dict[str, Any]]) -> int:
                for assertion in assertions:
                    await service.passkey_login(assertion, scope=None, client=CLIENT)
                return len(assertions)

            return sum(await asyncio.gather(*(caller(a) for a in ready)))

        started = time.perf_counter()
        count, stall = await with_ticker(work)
        rate = count / (time.perf_counter() - started)
        label = f"passkey_login, {CALLERS} users (SQLite, session opened)"
        return [label, f"{rate:,.0f}", f"{1000 / rate:.2f}", f"{stall:.2f}"]
    finally:
        await service.aclose()


async def run(seconds: float) -> str:
    rows = await verification_rows(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(await login_row(seconds, Path(tmp)))
    return L.table(["operation", "per second", "ms each", "worst loop stall (ms)"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    table = asyncio.run(run(args.seconds))
    print(table)
    if args.no_write:
        return
    body = (
        f"Machine: {L.machine_note()}; in-process, SQLite file. "
        f"`python benchmarks/passkeys.py --seconds {args.seconds:g}`.\n\n{table}\n\n"
        "`verify_assertion` is the whole W3C WebAuthn L3 §7.2 check of the `webauthn` "
        "package (client data, RP id hash, flags, and one ECDSA P-256 signature). "
        "The service runs it in a worker thread (`asyncio.to_thread`); the rows with "
        f"{CALLERS} callers show the event loop's worst extra delay (a 5 ms ticker) with "
        "the verification on the loop and off it. `passkey_login` is a whole sign-in "
        "without HTTP: the challenge taken (a write), the credential read, the login "
        "throttle, the verification, and one transaction moving the counter and "
        "opening the session."
    )
    L.write_section("Passkeys", body)
    print(f"\nwrote the Passkeys section of {L.BENCHMARKS_MD}")


if __name__ == "__main__":
    main()
