"""Three real processes: ``authgate serve``, an "orders" resource server on
``authgate.verifier`` (``JWKSVerifier.from_issuer(issuer, audience=
"https://orders.internal")``, ``protect``, ``require_scopes``), and a "reporter"
service calling orders through ``ClientCredentialsAuth``. APIs and clients are
registered with the CLI alone (SECURITY.md A.7 #56, the verifier side)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from readme._readme import PASSWORD, Process, Served, serving, start

HERE = Path(__file__).resolve().parent
ORDERS = "https://orders.internal"
BILLING = "https://billing.internal"
CALLS = 60


@dataclass
class Fleet:
    server: Served
    orders: Process
    orders_url: str
    reporter: dict[str, str]
    biller: dict[str, str]

    @property
    def token_url(self) -> str:
        return self.server.url + "/auth/token"

    def seen(self) -> list[str]:
        seen: list[str] = httpx.get(self.orders_url + "/seen").json()
        return seen

    def client_token(self, client: dict[str, str], **form: str) -> str:
        auth = (client["client_id"], client["client_secret"])
        answer = httpx.post(
            self.token_url, data={"grant_type": "client_credentials", **form}, auth=auth
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


def _start_orders(server: Served, tmp: Path) -> tuple[Process, str]:
    port_file = tmp / "orders.port"
    command = f"{sys.executable} {HERE / '_orders.py'} {server.url} {ORDERS} {port_file}"
    process = start(command, env=server.env, cwd=tmp, logs=tmp)
    deadline = time.monotonic() + 60
    while True:  # a readiness wait, not a timed assertion
        if port_file.exists() and port_file.read_text():
            url = f"http://127.0.0.1:{port_file.read_text()}"
            try:
                if httpx.get(url + "/seen").status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
        if process.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("orders did not start:\n" + process.stop())
        time.sleep(0.05)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("fleet")
    for server in serving(tmp):
        server.sh(f"authgate apis create orders --audience {ORDERS} --scope orders:read")
        server.sh(f"authgate apis create billing --audience {BILLING} --scope billing:read")
        reporter = json.loads(
            server.sh(
                "authgate clients create reporter --grant client_credentials"
                " --scope orders:read --json"
            )
        )
        biller = json.loads(
            server.sh(
                "authgate clients create biller --grant client_credentials"
                " --scope billing:read --json"
            )
        )
        server.sh("authgate users create carol --password-stdin", stdin=PASSWORD)
        orders, orders_url = _start_orders(server, tmp)
        try:
            yield Fleet(server, orders, orders_url, reporter, biller)
        finally:
            orders.stop()


def test_the_reporter_calls_orders_with_one_token_for_many_calls(fleet: Fleet) -> None:
    before = len(fleet.seen())
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "_reporter.py"),
            fleet.token_url,
            fleet.reporter["client_id"],
            fleet.orders_url,
            ORDERS,
            str(CALLS),
        ],
        env={**fleet.server.env, "REPORTER_SECRET": fleet.reporter["client_secret"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["statuses"] == [200] * (CALLS + 5)
    assert result["token_requests"] == 1
    assert result["caller"] == fleet.reporter["client_id"]
    seen = fleet.seen()[before:]
    assert len(seen) == CALLS + 5
    assert len(set(seen)) == 1  # orders saw one token for every call
    assert fleet.reporter["client_secret"] not in done.stdout + done.stderr


def test_a_token_minted_for_billing_is_refused_by_orders(fleet: Fleet) -> None:
    billing = fleet.client_token(fleet.biller, resource=BILLING)
    answer = httpx.get(
        fleet.orders_url + "/api/orders", headers={"Authorization": f"Bearer {billing}"}
    )
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    # The same client's token for orders itself is accepted (so the 401 is the audience).
    orders = fleet.client_token(fleet.reporter, resource=ORDERS)
    ok = httpx.get(fleet.orders_url + "/api/orders", headers={"Authorization": f"Bearer {orders}"})
    assert ok.status_code == 200


def test_a_login_token_for_authgate_itself_is_refused_by_orders(fleet: Fleet) -> None:
    form = {"grant_type": "password", "username": "carol", "password": PASSWORD}
    login = httpx.post(fleet.token_url, data=form)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    answer = httpx.get(
        fleet.orders_url + "/api/orders", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401


def test_without_resource_a_client_of_one_api_gets_that_api(fleet: Fleet) -> None:
    token = fleet.client_token(fleet.reporter)
    answer = httpx.get(
        fleet.orders_url + "/api/orders", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
