"""Shared pieces of the HTTP benchmarks: the baseline virtualenv, server processes,
the load generators, statistics, plots and the BENCHMARKS.md writer.

Everything here targets loopback only (127.0.0.1) and is bounded in time and count.
On a machine with two or more cores the servers are pinned to core 0 and the load
(this process and ``wrk``) to core 1, so the two do not steal each other's CPU.

    python benchmarks/_load.py setup     # create .venv-bench from requirements-baselines.txt

Load generators:

* ``wrk`` (Debian: ``apt-get install wrk``) for closed-loop throughput of GET routes;
  one Python client on one core cannot saturate a uvicorn worker, wrk can. Without
  wrk, a bounded httpx closed loop stands in (and the report says so).
* httpx (asyncio) for everything that needs logic: logins, refresh chains, paced
  latency probes and revocation polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
PLOTS_DIR = BENCH_DIR / "plots"
BENCH_VENV = ROOT / ".venv-bench"
PROJECT_VENV = ROOT / ".venv"
REQUIREMENTS = BENCH_DIR / "requirements-baselines.txt"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
LOOPBACK = "127.0.0.1"

TWO_CORES = (os.cpu_count() or 1) >= 2
SERVER_CPU = 0
LOAD_CPU = 1 if TWO_CORES else 0


# --------------------------------------------------------------------------- venvs


def bench_python() -> Path:
    return BENCH_VENV / "bin" / "python"


def project_python() -> Path:
    return PROJECT_VENV / "bin" / "python"


def ensure_bench_venv() -> Path:
    """Create (or refresh) .venv-bench from requirements-baselines.txt; never touch .venv."""
    stamp = BENCH_VENV / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= REQUIREMENTS.stat().st_mtime:
        return bench_python()
    if not bench_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(bench_python()), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    stamp.touch()
    return bench_python()


def reexec_in_bench_venv() -> None:
    """Run the calling script under .venv-bench (it has httpx, matplotlib, psutil)."""
    if Path(sys.prefix).resolve() == BENCH_VENV.resolve():
        return
    python = ensure_bench_venv()
    os.execv(str(python), [str(python), *sys.argv])


def pin_self() -> None:
    """Pin the load generator (this process) to the load core, and make SIGTERM and
    SIGINT (ignored in background jobs) unwind, so every server started is stopped."""
    if TWO_CORES:
        os.sched_setaffinity(0, {LOAD_CPU})

    def stop(signum: int, frame: object) -> None:
        # Once: a second signal (``timeout`` forwards its own SIGTERM too) must not
        # cut the unwinding that stops the servers short and leave them running.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def taskset(cpu: int) -> list[str]:
    if TWO_CORES and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on, never the same one twice in this process:
    servers are often given their ports together and started later, and the kernel
    may hand a just-closed port out again."""
    while True:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def listening_sessions(port: int) -> set[int]:
    """Session ids of the processes listening on TCP ``port`` (Linux ``/proc``). A
    server started with ``start_new_session=True`` has its own pid as session id, so
    this tells whether the process answering on ``port`` is the one we started."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    sessions: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                sessions.add(os.getsid(int(proc.name)))
    return sessions


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in (LOOPBACK, "localhost", "::1"):
        raise SystemExit(f"refusing to send load to {host!r}: loopback only")


# ------------------------------------------------------------------------- servers


def uvicorn_argv(python: Path, app: str, port: int, *, factory: bool = False) -> list[str]:
    argv = [str(python), "-m", "uvicorn", app, "--host", LOOPBACK, "--port", str(port)]
    argv += ["--log-level", "warning", "--no-access-log", "--loop", "uvloop"]
    argv += ["--http", "httptools"]
    if factory:
        argv.append("--factory")
    return argv


def authgate_argv(port: int, workers: int = 1) -> list[str]:
    argv = [str(PROJECT_VENV / "bin" / "authgate"), "serve", "--host", LOOPBACK]
    argv += ["--port", str(port), "--log-level", "warning"]
    if workers != 1:
        argv += ["--workers", str(workers)]
    return argv


@dataclass
class Server:
    """A server subprocess on loopback, pinned to a core, stopped on exit."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/public"
    cpu: int | None = SERVER_CPU
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self, timeout: float = 60.0) -> Server:
        """Start and wait until ready; on a port someone else took meanwhile (our
        process then fails to bind while the other answers), again on a new port."""
        for _ in range(3):
            try:
                self._start_once(timeout)
            except RuntimeError as exc:
                if "address already in use" not in str(exc).lower():
                    raise
            assert self.proc is not None
            if self.proc.poll() is None and self.proc.pid in listening_sessions(self.port):
                return self
            self.stop()
            taken = self.port
            self.port = free_port()
            self.env = {k: v.replace(f":{taken}", f":{self.port}") for k, v in self.env.items()}
            self.argv = [str(self.port) if a == str(taken) else a for a in self.argv]
            self.log_path = None
        raise RuntimeError(f"{self.name}: another process kept answering on its port")

    def _start_once(self, timeout: float) -> None:
        env = {**os.environ, **self.env}
        env.pop("VIRTUAL_ENV", None)
        prefix = taskset(self.cpu) if self.cpu is not None else []
        log = self.log_path or Path(f"/tmp/authgate-bench-{self.name}-{self.port}.log")
        self.log_path = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*prefix, *self.argv],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {log.read_text()[-2000:]}")
            if _http_ok(self.url(self.ready_path)):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http_ok(url: str) -> bool:
    host, port = LOOPBACK, int(urlsplit(url).port or 80)
    path = urlsplit(url).path or "/"
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            head = sock.recv(64)
    except OSError:
        return False
    return head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2"))


# ------------------------------------------------------------------------ results


@dataclass
class LoadResult:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    engine: str = "wrk"

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def median_result(rounds: Sequence[LoadResult]) -> LoadResult:
    """The per-metric median of several rounds."""
    first = rounds[0]
    mid_rps = median([r.rps for r in rounds])
    return LoadResult(
        label=first.label,
        requests=round(mid_rps * first.seconds),
        seconds=first.seconds,
        p50_ms=median([r.p50_ms for r in rounds]),
        p99_ms=median([r.p99_ms for r in rounds]),
        errors=sum(r.errors for r in rounds),
        engine=first.db.engine,
    )


# ---------------------------------------------------------------- load generators

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(
    label: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Closed-loop GET load with wrk, pinned to the load core; bounded by ``seconds``."""
    check_loopback(url)
    argv = [*taskset(LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv += ["--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    if total is None or "50" not in lat or "99" not in lat:
        raise RuntimeError(f"unparsable wrk output:\n{out}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return LoadResult(
        label=label,
        requests=int(total.group(1)),
        seconds=_ms(total.group(2) + total.group(3)) / 1e3,
        p50_ms=_ms(lat["50"]),
        p99_ms=_ms(lat["99"]),
        errors=errors,
    )


async def httpx_closed_loop(
    label: str,
    url: str,
    *,
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """The fallback when wrk is absent: N httpx workers for ``seconds``."""
    import httpx

    check_loopback(url)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - start) * 1e3)
                errors += response.status_code >= 300

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return LoadResult(
        label, len(latencies), elapsed, pct(latencies, 50), pct(latencies, 99), errors, "httpx"
    )


def closed_loop(
    label: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    if have_wrk():
        return wrk(label, url, seconds=seconds, connections=connections, headers=headers)
    return asyncio.run(
        httpx_closed_loop(label, url, seconds=seconds, connections=connections, headers=headers)
    )


@dataclass
class Probe:
    """Latencies (ms) and status codes of a paced probe."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def p(self, q: float) -> float:
        return pct(self.latencies, q)


async def paced_probe(
    client: Any,
    url: str,
    *,
    seconds: float,
    rate: float,
    headers: dict[str, str] | None = None,
    lanes: int = 4,
) -> Probe:
    """GET ``url`` at about ``rate`` req/s for ``seconds``, over ``lanes`` concurrent lanes.

    Paced (open-ish loop) so the latency measures the server's responsiveness, not the
    client's queue; several lanes so one stalled request does not stop the others.
    """
    check_loopback(url)
    probe = Probe()
    interval = lanes / rate
    count = int(seconds * rate / lanes)

    async def lane(offset: float) -> None:
        start = time.perf_counter() + offset
        for i in range(count):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            response = await client.get(url, headers=headers)
            probe.latencies.append((time.perf_counter() - t0) * 1e3)
            probe.statuses[response.status_code] = probe.statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(lane(k * interval / lanes) for k in range(lanes)))
    return probe


async def hammer(
    action: Callable[[int], Awaitable[bool]], *, clients: int, seconds: float
) -> tuple[int, int, float]:
    """Run ``action(client_index)`` in a loop on ``clients`` tasks for ``seconds``.

    Returns (ok, failed, elapsed seconds).
    """
    ok = failed = 0
    deadline = time.perf_counter() + seconds

    async def loop(index: int) -> None:
        nonlocal ok, failed
        while time.perf_counter() < deadline:
            if await action(index):
                ok += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    return ok, failed, time.perf_counter() - started


# --------------------------------------------------------------------- reporting


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable on a terminal)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of BENCHMARKS.md; others untouched."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    heading = f"## {title}\n"
    section = f"{heading}\n{body.strip()}\n"
    start = text.find(heading)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(heading))
        end = len(text) if nxt == -1 else nxt + 1
        text = text[:start] + section + ("\n" + text[end:] if nxt != -1 else "")
    BENCHMARKS_MD.write_text(text)


def machine_note() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pinning = (
        f"servers pinned to core {SERVER_CPU}, load generator to core {LOAD_CPU} (taskset)"
        if TWO_CORES
        else "one core: server and load share it"
    )
    engine = "wrk 4 (closed loop)" if have_wrk() else "httpx closed loop (wrk not installed)"
    return (
        f"Machine: {os.cpu_count()} cores, {cpu}; {pinning}; loopback only; "
        f"throughput engine: {engine}; Python {sys.version.split()[0]}."
    )


def _short(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def bar_plot(
    path: Path,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    *,
    hline: float | None = None,
    log: bool = False,
) -> None:
    """Grouped bars, one group per label, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt=_short, fontsize=7)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle="--", linewidth=1)
    if log:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def cdf_plot(path: Path, title: str, series: dict[str, Sequence[float]], xlabel: str) -> None:
    """Empirical CDFs, one line per series, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    for name, values in series.items():
        xs = sorted(values)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.step(xs, ys, where="post", label=f"{name} (n={len(xs)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of samples")
    ax.set_title(title)
    ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


@contextlib.contextmanager
def servers(*items: Server) -> Iterator[tuple[Server, ...]]:
    started: list[Server] = []
    try:
        for item in items:
            started.append(item.start())
        yield tuple(started)
    finally:
        for item in reversed(started):
            item.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        print(ensure_bench_venv())
    else:
        raise SystemExit("usage: python benchmarks/_load.py setup")
