"""docs/deploy.md, run: Debian's nginx with the guide's own configuration (read from the
guide, addresses and paths substituted) in front of two ``authgate serve`` instances in
production mode on one PostgreSQL database and one Redis namespace.

The client connects to nginx from 127.0.0.2; nginx reaches the instances from
127.0.0.1, the only trusted proxy. So an IP recorded as 127.0.0.2 can only have come
from nginx's ``X-Forwarded-For``, and 6.6.6.6 only from the client's forged one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from resilience._harness import (
    AUTHGATE,
    LOOPBACK,
    PASSWORD,
    AuthgateServer,
    ModuleState,
    bearer,
    free_port,
    fresh_database,
    login,
    me_status,
    refresh,
    register,
    tokens_of,
    unique,
    wait_until,
)

from ._nginx import Nginx, guide_nginx_block, self_signed, substitute

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: The client's own address; nginx connects to the instances from LOOPBACK.
CLIENT = "127.0.0.2"
FORGED = "6.6.6.6"
#: A logout on A is refused by B within this bound (the bound tests/resilience's
#: two-instance tests hold): the database poller's backstop alone is 2 s while Redis
#: is healthy, so meeting it takes the Redis nudge.
FANOUT_DEADLINE = 1.0


@dataclass
class Deployment:
    a: AuthgateServer
    b: AuthgateServer
    nginx: Nginx
    cert: Path
    env: dict[str, str]
    upgrade_output: str

    def pair(self) -> tuple[AuthgateServer, AuthgateServer]:
        return self.a, self.b

    @property
    def public_url(self) -> str:
        return f"https://{LOOPBACK}:{self.nginx.port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def client(self) -> httpx.Client:
        """A client of the public name, connecting from CLIENT."""
        transport = httpx.HTTPTransport(local_address=CLIENT, verify=self.tls())
        return httpx.Client(base_url=self.public_url, transport=transport, timeout=15)

    def async_client(self) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=CLIENT, verify=self.tls())
        return httpx.AsyncClient(base_url=self.public_url, transport=transport, timeout=15)


@pytest.fixture
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    redis_url: str,
    nginx_binary: Path,
    module_state: ModuleState,
) -> Deployment:
    """One deployment for the module (starting it is the slow part); every test uses
    its own users."""
    if "deployment" not in module_state.values:
        stack = module_state.stack
        database_url = stack.enter_context(fresh_database(postgres_url))
        tmp = tmp_path_factory.mktemp("deploy")
        module_state.values["deployment"] = stack.enter_context(
            _deployment(tmp, database_url, redis_url, nginx_binary)
        )
    started: Deployment = module_state.values["deployment"]
    return started


@contextlib.contextmanager
def _deployment(
    tmp: Path, database_url: str, redis_url: str, nginx_binary: Path
) -> Iterator[Deployment]:
    kek = tmp / "kek.key"  # docs/deploy.md: one KEK file, made once, on every instance
    kek.write_text(secrets.token_urlsafe(32) + "\n")
    kek.chmod(0o600)
    nginx_port = free_port()
    # docs/deploy.md section 1, with this machine's addresses.
    env = {
        "AUTHGATE_PRODUCTION": "true",
        "AUTHGATE_ISSUER": f"https://{LOOPBACK}:{nginx_port}",
        "AUTHGATE_DATABASE_URL": database_url,
        "AUTHGATE_REDIS_URL": redis_url,
        "AUTHGATE_REDIS_NAMESPACE": unique("deploy"),
        "AUTHGATE_KEY_ENCRYPTION_KEY_FILE": str(kek),
        "AUTHGATE_TRUSTED_PROXIES": LOOPBACK,
        "AUTHGATE_METRICS_TOKEN": secrets.token_urlsafe(32),
        # Nothing listens there: messages wait in the outbox, requests never do.
        "AUTHGATE_EMAIL__SMTP_URL": f"smtp+starttls://authgate:pw@{LOOPBACK}:{free_port()}",
        "AUTHGATE_EMAIL__FROM": "auth@example.com",
    }
    a = AuthgateServer(tmp / "a", env)
    b = AuthgateServer(tmp / "b", env)
    upgraded = a.cli("db", "upgrade").stdout  # section 4: before any instance starts
    cert, key = self_signed(tmp)
    nginx = Nginx(nginx_binary, tmp / "nginx", nginx_port)
    with contextlib.ExitStack() as stack:
        # Started together, as a deploy starts them: the first signing key is made once.
        stack.callback(b.stop)
        stack.callback(a.stop)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(AuthgateServer.start, (a, b)))
        # The harness made the data directories (0755 under pytest's umask); the guide's
        # instances keep nothing there, and `authgate check` would warn about the mode.
        for server in (a, b):
            server.data_dir.chmod(0o700)
        block = substitute(
            guide_nginx_block(),
            {
                "server 10.0.0.11:8000": f"server {LOOPBACK}:{a.port}",
                "server 10.0.0.12:8000": f"server {LOOPBACK}:{b.port}",
                "listen 443 ssl;": f"listen {LOOPBACK}:{nginx_port} ssl;",
                "/etc/nginx/tls/auth.example.com.crt": str(cert),
                "/etc/nginx/tls/auth.example.com.key": str(key),
                "/var/log/nginx/authgate.access.log": str(tmp / "nginx" / "access.log"),
            },
        )
        nginx.start(nginx.write_config(block))
        try:
            yield Deployment(a, b, nginx, cert, env, upgraded)
        finally:
            nginx.stop()


def requests_served(server: AuthgateServer, token: str, route: str) -> int:
    """``authgate_http_requests_total`` for ``GET route`` answered 200, from the
    instance's own /metrics."""
    with server.client() as client:
        response = client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200, response.text
    total = 0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "authgate_http_requests_total"
                and labels.get("route") == route
                and labels.get("method") == "GET"
                and labels.get("status") == "200"
            ):
                total += int(sample.value)
    return total


def sign_in(deployment: Deployment, prefix: str) -> tuple[str, dict[str, str]]:
    """Register and log in through nginx; (username, token response)."""
    user = unique(prefix)
    with deployment.client() as client:
        assert register(client, user).status_code == 201
        return user, tokens_of(login(client, user))


def test_a_login_through_nginx_gives_a_token_both_instances_accept(
    deployment: Deployment,
) -> None:
    metrics_token = deployment.env["AUTHGATE_METRICS_TOKEN"]
    before = {s.port: requests_served(s, metrics_token, "/users/me") for s in deployment.pair()}
    user, tokens = sign_in(deployment, "proxied")
    access = tokens["access_token"]
    with deployment.client() as client:
        for _ in range(6):
            response = client.get("/users/me", headers=bearer(access))
            assert response.status_code == 200, response.text
            assert response.json()["username"] == user
        metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == deployment.public_url
    # nginx sent those requests to both instances in turn.
    after = {s.port: requests_served(s, metrics_token, "/users/me") for s in deployment.pair()}
    assert all(after[port] > before[port] for port in after), (before, after)
    # And each instance, asked directly, accepts the token and rotates its refresh token.
    for server in deployment.pair():
        with server.client() as direct:
            assert me_status(direct, access) == 200
    with deployment.b.client() as direct_b:
        assert refresh(direct_b, tokens["refresh_token"]).status_code == 200


def test_a_logout_on_one_instance_is_refused_by_the_other_and_through_nginx(
    deployment: Deployment,
) -> None:
    a, b = deployment.pair()
    _, tokens = sign_in(deployment, "logout")
    access = tokens["access_token"]
    with a.client() as direct_a, b.client() as direct_b:
        assert me_status(direct_b, access) == 200
        assert direct_a.post("/auth/logout", headers=bearer(access)).status_code == 204
        refused = wait_until(lambda: me_status(direct_b, access) == 401, timeout=FANOUT_DEADLINE)
        assert refused, f"B still accepts a token A logged out {FANOUT_DEADLINE} s ago"
        assert refresh(direct_b, tokens["refresh_token"]).status_code == 400

    async def burst() -> list[int]:
        async with deployment.async_client() as client:
            replies = await asyncio.gather(
                *(client.get("/users/me", headers=bearer(access)) for _ in range(24))
            )
        return [reply.status_code for reply in replies]

    # Both instances, reached in turn through nginx, now refuse it.
    assert asyncio.run(burst()) == [401] * 24


def test_a_refresh_token_revoked_on_one_instance_is_refused_by_the_other(
    deployment: Deployment,
) -> None:
    a, b = deployment.pair()
    _, tokens = sign_in(deployment, "revoke")
    with a.client() as direct_a, b.client() as direct_b:
        form = {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
        assert direct_a.post("/auth/revoke", data=form).status_code == 200
        replay = refresh(direct_b, tokens["refresh_token"])
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"


def test_the_client_ip_is_the_one_nginx_saw_and_a_forged_forwarded_for_is_not_believed(
    deployment: Deployment,
) -> None:
    user = unique("xff")
    forged = {"X-Forwarded-For": FORGED, "Forwarded": f"for={FORGED}", "X-Real-IP": FORGED}
    with deployment.client() as client:
        body = {"username": user, "password": PASSWORD}
        assert client.post("/users", json=body, headers=forged).status_code == 201
        wrong = {"grant_type": "password", "username": user, "password": "not-the-Password-1"}
        assert client.post("/auth/token", data=wrong, headers=forged).status_code == 400
        right = {**wrong, "password": PASSWORD}
        access = tokens_of(client.post("/auth/token", data=right, headers=forged))["access_token"]
        sessions = client.get("/users/me/sessions", headers={**bearer(access), **forged})
    assert sessions.status_code == 200, sessions.text
    assert [s["ip"] for s in sessions.json()] == [CLIENT]
    done = deployment.a.cli("audit", "list", "--json", "--user", user)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    logins = {e["event"]: e["ip"] for e in events if e["event"].startswith("login")}
    assert logins == {"login_failed": CLIENT, "login_ok": CLIENT}, events
    assert FORGED not in {e["ip"] for e in events}


def test_readiness_answers_through_nginx_and_metrics_stay_inside(
    deployment: Deployment,
) -> None:
    with deployment.client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}
        assert ready.headers["strict-transport-security"] == "max-age=63072000"
        assert client.get("/metrics").status_code == 404
        # The body limit is nginx's, before any instance reads a byte.
        big = client.post("/auth/token", content=b"x" * (65 * 1024))
        assert big.status_code == 413
    for server in deployment.pair():
        with server.client() as direct:
            assert direct.get("/healthz").json() == {"status": "ok"}
            assert direct.get("/metrics").status_code == 401
            wrong = bearer("w" * 43)
            assert direct.get("/metrics", headers=wrong).status_code == 401


def test_the_guides_settings_pass_authgate_check_and_the_database_was_upgraded_first(
    deployment: Deployment,
) -> None:
    assert deployment.upgrade_output.startswith("database upgraded from empty to ")
    with ThreadPoolExecutor(2) as pool:
        check, current = pool.map(
            lambda args: deployment.a.cli(*args),
            [("check", "--host", "0.0.0.0"), ("db", "current")],
        )
    assert check.stdout.strip() == "settings look safe", (check.stdout, check.stderr)
    assert check.stderr == ""
    assert current.stdout.rstrip().endswith("up to date"), current.stdout


def test_an_instance_with_another_key_encryption_key_refuses_to_start(
    deployment: Deployment, tmp_path: Path
) -> None:
    other = AuthgateServer(
        tmp_path / "c",
        {**deployment.env, "AUTHGATE_KEY_ENCRYPTION_KEY_FILE": str(tmp_path / "new" / "kek.key")},
    )
    done = subprocess.run(
        [str(AUTHGATE), "serve", "--host", LOOPBACK, "--port", str(other.port)],
        env=other.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "error: unsafe_key: a stored signing key cannot be decrypted: wrong key-encryption key?"
    ), done.stderr
    assert "Traceback" not in done.stderr
