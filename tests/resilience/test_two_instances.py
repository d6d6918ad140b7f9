"""Two ``authgate serve`` instances sharing PostgreSQL and Redis behave as one server:
tokens, logouts, refresh-reuse detection and the login throttle cross instances."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._harness import (
    AuthgateServer,
    ModuleState,
    bearer,
    fresh_database,
    login,
    me_status,
    refresh,
    register,
    running,
    shared_key_env,
    tokens_of,
    unique,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Revocations made on A must be enforced by B within this many seconds.
PROPAGATION = 1.0


@pytest.fixture
def pair(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    redis_url: str,
    module_state: ModuleState,
) -> tuple[AuthgateServer, AuthgateServer]:
    """One pair for the module (starting servers is the slow part); every test uses
    its own users, so the tests stay independent."""
    if "pair" not in module_state.values:
        stack = module_state.stack
        database_url = stack.enter_context(fresh_database(postgres_url))
        tmp_path = tmp_path_factory.mktemp("pair")
        module_state.values["pair"] = stack.enter_context(
            contextlib.contextmanager(_pair)(tmp_path, database_url, redis_url)
        )
    started: tuple[AuthgateServer, AuthgateServer] = module_state.values["pair"]
    return started


def _pair(
    tmp_path: Path, database_url: str, redis_url: str
) -> Iterator[tuple[AuthgateServer, AuthgateServer]]:
    env = {
        "AUTHGATE_DATABASE_URL": database_url,
        "AUTHGATE_REDIS_URL": redis_url,
        # The pair's own keys and channel: the throttle's per-IP counts (every test
        # client is 127.0.0.1) must not mix with other tests' or earlier runs'.
        "AUTHGATE_REDIS_NAMESPACE": unique("pair"),
        "AUTHGATE_SESSIONS__REUSE_GRACE": "0",
        "AUTHGATE_THROTTLE__MAX_FAILURES": "3",
        # A block long enough that the test never races its end.
        "AUTHGATE_THROTTLE__BACKOFF_BASE": "60",
        **shared_key_env(),
    }
    a = AuthgateServer(tmp_path / "a", env)
    b = AuthgateServer(tmp_path / "b", env)
    with running(a, b):
        yield a, b


def rejected_by(server: AuthgateServer, token: str) -> bool:
    """True once ``server`` answers 401 for ``token`` (bounded by the caller)."""
    with server.client() as client:
        return wait_until(lambda: me_status(client, token) == 401, timeout=PROPAGATION)


def test_token_issued_by_a_verifies_on_b(pair: tuple[AuthgateServer, AuthgateServer]) -> None:
    a, b = pair
    user = unique("cross")
    with a.client() as ca, b.client() as cb:
        assert register(ca, user).status_code == 201
        pair_a = tokens_of(login(ca, user))
        response = cb.get("/users/me", headers=bearer(pair_a["access_token"]))
        assert response.status_code == 200
        assert response.json()["username"] == user
        # And the refresh token A issued rotates on B.
        assert refresh(cb, pair_a["refresh_token"]).status_code == 200


def test_logout_on_a_is_enforced_by_b_within_one_second(
    pair: tuple[AuthgateServer, AuthgateServer],
) -> None:
    a, b = pair
    user = unique("logout")
    with a.client() as ca, b.client() as cb:
        assert register(ca, user).status_code == 201
        tokens = tokens_of(login(ca, user))
        assert me_status(cb, tokens["access_token"]) == 200
        assert ca.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
        assert rejected_by(b, tokens["access_token"])
        assert refresh(cb, tokens["refresh_token"]).status_code == 400


def test_logout_all_on_a_ends_every_session_on_b_within_one_second(
    pair: tuple[AuthgateServer, AuthgateServer],
) -> None:
    a, b = pair
    user = unique("everywhere")
    with a.client() as ca, b.client() as cb:
        assert register(ca, user).status_code == 201
        first = tokens_of(login(ca, user))
        second = tokens_of(login(cb, user))
        assert me_status(cb, first["access_token"]) == 200
        assert me_status(cb, second["access_token"]) == 200
        response = ca.post("/auth/logout-all", headers=bearer(first["access_token"]))
        assert response.status_code == 204
        assert rejected_by(b, first["access_token"])
        assert rejected_by(b, second["access_token"])
        assert refresh(cb, second["refresh_token"]).status_code == 400


def test_refresh_reuse_on_a_revokes_the_session_on_b_within_one_second(
    pair: tuple[AuthgateServer, AuthgateServer],
) -> None:
    a, b = pair
    user = unique("reuse")
    with a.client() as ca, b.client() as cb:
        assert register(ca, user).status_code == 201
        original = tokens_of(login(ca, user))
        rotated = tokens_of(refresh(ca, original["refresh_token"]))
        assert me_status(cb, rotated["access_token"]) == 200
        # Replaying the spent refresh token on A: RFC 9700 §4.14.2, the family dies.
        replay = refresh(ca, original["refresh_token"])
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        assert rejected_by(b, rotated["access_token"])
        assert refresh(cb, rotated["refresh_token"]).status_code == 400


def test_login_throttle_counts_failures_across_both_instances(
    pair: tuple[AuthgateServer, AuthgateServer],
) -> None:
    a, b = pair
    user = unique("throttled")
    with a.client() as ca, b.client() as cb:
        assert register(ca, user).status_code == 201
        # Three failures in all (the limit), but neither instance saw three itself.
        assert login(ca, user, "wrong-password-1").status_code in (400, 401)
        assert login(cb, user, "wrong-password-2").status_code in (400, 401)
        assert login(ca, user, "wrong-password-3").status_code in (400, 401)
        # Now blocked everywhere, even with the right password.
        assert login(cb, user).status_code == 429
        assert login(ca, user).status_code == 429
