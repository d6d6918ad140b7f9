"""PostgreSQL unreachable (a loopback TCP proxy in front of it is cut): the routes that
need the database answer 503 with a clear body, verifying valid tokens keeps working,
/readyz says not ready, and everything recovers when the database is back."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from ._harness import (
    AuthgateServer,
    TcpProxy,
    bearer,
    login,
    refresh,
    register,
    tokens_of,
    unique,
    wait_until,
    with_port,
)

pytestmark = pytest.mark.postgres


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body.get("error"), body


def test_database_outage_gives_503_while_tokens_still_verify(
    tmp_path: Path, pg_database: str
) -> None:
    target = urlsplit(pg_database)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    server = AuthgateServer(
        tmp_path / "data",
        {"AUTHGATE_DATABASE_URL": with_port(pg_database, proxy.port)},
        with_resource=True,
    )
    try:
        server.start()
        user = unique("outage")
        with server.client() as client:
            assert register(client, user).status_code == 201
            tokens = tokens_of(login(client, user))
            access = tokens["access_token"]
            assert client.get("/readyz").status_code == 200

            proxy.cut()
            assert wait_until(lambda: client.get("/readyz").status_code == 503, timeout=15)
            assert_unavailable(client.get("/readyz"))
            # Verification is in memory: valid tokens keep working, bad ones stay 401.
            for _ in range(20):
                assert client.get("/resource", headers=bearer(access)).status_code == 200
            assert client.get("/resource", headers=bearer(access + "x")).status_code == 401
            assert client.get("/resource").status_code == 401
            # What needs the database says so, never a 500.
            assert_unavailable(login(client, user))
            assert_unavailable(refresh(client, tokens["refresh_token"]))
            assert_unavailable(register(client, unique("nodb")))
            assert_unavailable(client.get("/users/me", headers=bearer(access)))
            # Ending a session must be durable, so it waits for the database too.
            assert_unavailable(client.post("/auth/logout", headers=bearer(access)))
            assert client.get("/healthz").status_code == 200

            proxy.restore()
            assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=30)
            assert client.get("/users/me", headers=bearer(access)).status_code == 200
            assert refresh(client, tokens["refresh_token"]).status_code == 200
            assert login(client, user).status_code == 200
    finally:
        server.stop()
        proxy.close()
