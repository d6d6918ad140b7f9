"""One reset token, a burst of confirms spread over two ``authgate serve`` instances on
one PostgreSQL database: exactly one succeeds (SECURITY.md A.7 #57: single use, atomic
across processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from recovery._smtp import TestSmtp, token_in
from recovery.conftest import register, serve_env
from resilience._harness import AuthgateServer, fresh_database, shared_key_env

pytestmark = pytest.mark.postgres


def test_a_burst_of_confirms_over_two_instances_on_postgres_gives_one_success(
    tmp_path: Path, postgres_url: str
) -> None:
    smtp = TestSmtp(tmp_path).start()
    try:
        with fresh_database(postgres_url) as db:
            env = serve_env(smtp, AUTHGATE_DATABASE_URL=db, **shared_key_env())
            a = AuthgateServer(tmp_path / "a", env).start()
            b = AuthgateServer(tmp_path / "b", env).start()
            try:
                with a.client() as ca, b.client() as cb:
                    register(ca, "racer", "racer@example.com")
                    assert (
                        cb.post("/auth/password-reset", json={"username": "racer"}).status_code
                        == 202
                    )
                    token = token_in(smtp.wait_for("racer@example.com", subject="Reset")[0])

                    async def burst() -> list[int]:
                        async with httpx.AsyncClient(timeout=60) as client:
                            answers = await asyncio.gather(
                                *(
                                    client.post(
                                        (a.url if i % 2 else b.url)
                                        + "/auth/password-reset/confirm",
                                        json={
                                            "token": token,
                                            "new_password": f"burst-password-{i:02d}-xq",
                                        },
                                    )
                                    for i in range(20)
                                )
                            )
                        return [r.status_code for r in answers]

                    codes = asyncio.run(burst())
                    assert codes.count(204) == 1, codes
                    assert set(codes) <= {204, 400}, codes
                    winner = codes.index(204)
                    for c in (ca, cb):
                        ok = c.post(
                            "/auth/token",
                            data={
                                "username": "racer",
                                "password": f"burst-password-{winner:02d}-xq",
                            },
                        )
                        assert ok.status_code == 200, ok.text
            finally:
                a.stop()
                b.stop()
    finally:
        smtp.stop()
