"""Password-reset requests must not wait for SMTP (issue 16): one run, printed.

One ``authgate serve`` on loopback sends its mail to an aiosmtpd server (plain SMTP
on loopback) that takes ``--smtp-delay`` seconds (default 1 s) to accept each message.
Closed loops of ``--concurrency`` httpx clients hit ``GET /healthz`` for ``--seconds``,
then ``POST /auth/password-reset`` for as long, alternating an existing account's
address and an unknown one. Printed: p50/p99 per route and the ratio of the p99s
(target: reset p99 within 2x healthz p99; the SMTP delay must not show), the known vs
unknown bands (the same work either way, SECURITY.md A.7 #57), and the outbox backlog
left at the end (the messages still waiting for the slow server).

    .venv/bin/python benchmarks/password_reset.py [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

AUTHGATE = Path(sys.executable).parent / "authgate"
PASSWORD = "benchmark-reset-pass-91"


class SlowInbox:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, smtp_port: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(
        {
            "AUTHGATE_DATA_DIR": str(data_dir),
            "AUTHGATE_ISSUER": f"http://127.0.0.1:{port}",
            "AUTHGATE_EMAIL__SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "AUTHGATE_EMAIL__REQUESTS_PER_IP_PER_HOUR": "100000000",
            "AUTHGATE_EMAIL__REQUESTS_PER_HOUR": "100000000",
            "AUTHGATE_THROTTLE__REGISTRATIONS_PER_IP_PER_HOUR": "100000",
        }
    )
    log = (data_dir.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(AUTHGATE), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("error: authgate serve did not start")


async def loop(
    url: str, seconds: float, concurrency: int, request: str, known: list[str]
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"healthz": [], "known": [], "unknown": []}
    stop = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        i = n
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            while time.perf_counter() < stop:
                i += concurrency
                start = time.perf_counter()
                if request == "healthz":
                    r = await client.get("/healthz")
                    kind = "healthz"
                else:
                    kind = "known" if i % 2 else "unknown"
                    address = known[i % len(known)] if kind == "known" else f"nobody{i}@example.com"
                    r = await client.post("/auth/password-reset", json={"email": address})
                elapsed = time.perf_counter() - start
                if r.status_code not in (200, 202):
                    raise SystemExit(f"error: {request} answered {r.status_code}: {r.text[:200]}")
                samples[kind].append(elapsed)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return samples


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def row(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {pct(values, 0.5):.2f} | {pct(values, 0.99):.2f} "
        f"| {statistics.fmean(values) * 1000:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--smtp-delay", type=float, default=1.0)
    args = parser.parse_args()

    inbox = SlowInbox(args.smtp_delay)
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "data", smtp.port)
        try:
            known = [f"bench{i}@example.com" for i in range(args.users)]
            with httpx.Client(base_url=url, timeout=30) as c:
                for i, address in enumerate(known):
                    body = {"username": f"bench{i}", "password": PASSWORD, "email": address}
                    assert c.post("/users", json=body).status_code == 201
            health = asyncio.run(loop(url, args.seconds, args.concurrency, "healthz", known))
            reset = asyncio.run(loop(url, args.seconds, args.concurrency, "reset", known))
            metrics = httpx.get(url + "/metrics", timeout=10).text
        finally:
            proc.terminate()
            proc.wait(30)
    smtp.stop()
    found = re.search(r"^authgate_email_outbox_pending (\S+)$", metrics, re.MULTILINE)
    all_reset = reset["known"] + reset["unknown"]
    print(
        f"concurrency {args.concurrency}, {args.seconds:.0f} s per route, "
        f"SMTP delay {args.smtp_delay} s"
    )
    print("| request | n | p50 ms | p99 ms | mean ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row("GET /healthz", health["healthz"]))
    print(row("POST /auth/password-reset (all)", all_reset))
    print(row("... existing account", reset["known"]))
    print(row("... unknown address", reset["unknown"]))
    ratio = pct(all_reset, 0.99) / pct(health["healthz"], 0.99)
    print(f"p99 ratio reset / healthz: {ratio:.2f} (target <= 2)")
    print(f"messages accepted by the slow SMTP server during the run: {inbox.count}")
    print(f"outbox pending at the end: {found.group(1) if found else '?'}")


if __name__ == "__main__":
    main()
