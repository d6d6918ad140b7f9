"""Service-to-service tokens over HTTP (issue 15): one run, printed.

One ``authgate serve`` (one uvicorn worker, SQLite, the throttle on as in production)
pinned to core 0; ``wrk`` on core 1 (``apt-get install wrk``) posts the forms with a
small Lua script. Measured in the same run, so the ratio holds on a busy machine:

* ``client_credentials`` tokens/s (HTTP Basic, ``resource`` named; target ≥ 1,000/s);
* ``GET /users/me`` req/s with a user's bearer token (the same server);
* token exchange tokens/s (a gateway client trading the user's token for ``orders``).

Every answer must be 200: a non-2xx counts as an error and is printed.

    .venv/bin/python benchmarks/client_credentials.py [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _load as L
import httpx

PASSWORD = "wobbly-lantern-orchid-73"
ORDERS = "https://orders.internal"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
AUTHGATE = L.PROJECT_VENV / "bin" / "authgate"


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [str(AUTHGATE), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        input=stdin,
    )
    if done.returncode != 0:
        raise SystemExit(f"authgate {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _post_script(path: Path, body: str | None, headers: dict[str, str]) -> None:
    """A wrk Lua script: POST ``body`` (GET when None) with ``headers``."""
    lines = [f'wrk.method = "{"GET" if body is None else "POST"}"']
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")


def wrk_post(label: str, url: str, script: Path, *, seconds: int, connections: int) -> L.LoadResult:
    """``L.wrk`` with a Lua script (method, body, headers); the same parsing, also
    when wrk pads a latency with a trailing space."""
    L.check_loopback(url)
    argv = [*L.taskset(L.LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv += ["--latency", "--timeout", "5s", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 30)
    text = out.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, re.MULTILINE))
    if total is None or "50" not in lat or "99" not in lat:
        raise RuntimeError(f"unparsable wrk output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return L.LoadResult(
        label,
        int(total.group(1)),
        L._ms(total.group(2) + total.group(3)) / 1e3,
        L._ms(lat["50"]),
        L._ms(lat["99"]),
        int(non2xx.group(1)) if non2xx else 0,
    )


def _median(rounds: list[L.LoadResult]) -> L.LoadResult:
    """The round with the median throughput (its latencies with it)."""
    return sorted(rounds, key=lambda r: r.rps)[len(rounds) // 2]


def _basic(client: dict[str, str]) -> str:
    raw = f"{client['client_id']}:{client['client_secret']}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _register(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    _cli(env, "apis", "create", "orders", "--audience", ORDERS, "--scope", "orders:read")
    made = []
    for name, grant in (("reporter", "client_credentials"), ("gateway", "token-exchange")):
        args = ["clients", "create", name, "--grant", grant, "--scope", "orders:read", "--json"]
        made.append(json.loads(_cli(env, *args)))
    user = ["users", "create", "bench", "--scope", "orders:read", "--password-stdin"]
    _cli(env, *user, stdin=PASSWORD + "\n")
    return made[0], made[1]


def _run(
    server: L.Server,
    tmp: Path,
    args: argparse.Namespace,
    clients: tuple[dict[str, str], dict[str, str]],
) -> dict[str, list[L.LoadResult]]:
    reporter, gateway = clients
    form = "application/x-www-form-urlencoded"
    token_url = server.url("/auth/token")
    rounds: dict[str, list[L.LoadResult]] = {"cc": [], "me": [], "exchange": []}
    user = {"username": "bench", "password": PASSWORD}
    with httpx.Client(base_url=server.base) as http:
        cc = {"grant_type": "client_credentials", "resource": ORDERS}
        probe = http.post("/auth/token", data=cc, headers={"Authorization": _basic(reporter)})
        assert probe.status_code == 200, probe.text
        cc_script = tmp / "cc.lua"
        _post_script(
            cc_script, urlencode(cc), {"Authorization": _basic(reporter), "Content-Type": form}
        )
        for _ in range(args.rounds):
            load = {"seconds": args.seconds, "connections": args.connections}
            rounds["cc"].append(wrk_post("client_credentials", token_url, cc_script, **load))
            r = http.post("/auth/token", data=user)
            r.raise_for_status()
            token = r.json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            rounds["me"].append(
                L.wrk("GET /users/me", server.url("/users/me"), headers=bearer, **load)
            )
            body = {
                "grant_type": EXCHANGE,
                "subject_token": token,
                "subject_token_type": ACCESS,
                "resource": ORDERS,
            }
            check = http.post("/auth/token", data=body, headers={"Authorization": _basic(gateway)})
            assert check.status_code == 200, check.text
            ex_script = tmp / "exchange.lua"
            _post_script(
                ex_script, urlencode(body), {"Authorization": _basic(gateway), "Content-Type": form}
            )
            rounds["exchange"].append(wrk_post("token exchange", token_url, ex_script, **load))
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not L.have_wrk():
        raise SystemExit("needs wrk (apt-get install wrk)")
    L.pin_self()
    tmp = Path(tempfile.mkdtemp(prefix="authgate-bench-cc-"))
    port = L.free_port()
    env = {"AUTHGATE_DATA_DIR": str(tmp / "data"), "AUTHGATE_ISSUER": f"http://127.0.0.1:{port}"}
    clients = _register(env)
    print(L.machine_note(), f"load average at start: {L.load_average()}", flush=True)
    server = L.Server("cc", L.authgate_argv(port), port, env=env, ready_path="/healthz")
    with L.servers(server):
        rounds = _run(server, tmp, args, clients)
    results = {k: _median(v) for k, v in rounds.items()}
    rows = [(r.label, f"{r.rps:,.0f}", r.p50_ms, r.p99_ms, r.errors) for r in results.values()]
    print(L.table(["request", "per second", "p50 ms", "p99 ms", "non-2xx"], rows))
    ratio = results["cc"].rps / results["me"].rps if results["me"].rps else float("nan")
    print(f"client_credentials / (GET /users/me): {ratio:.2f}")
    print(f"load average at end: {L.load_average()}")


if __name__ == "__main__":
    main()
