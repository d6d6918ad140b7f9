"""``authgate apis|clients``: registration through the service, secrets shown once,
``--json`` for machines, one-line errors and non-zero exits."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from authgate.tokens import generate_key
from cli.test_admin_commands import env, run, table

__all__ = ["env"]


def _orders(env: dict[str, str]) -> None:
    code, out, err = run(
        env, "apis", "create", "orders", "--audience", "https://orders.internal",
        "--scope", "orders:read", "--scope", "orders:write",
    )  # fmt: skip
    assert code == 0, err
    assert "orders" in out


def test_apis_create_list_delete(env: dict[str, str]) -> None:
    _orders(env)
    code, out, _ = run(env, "apis", "list", "--json")
    assert code == 0
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["name"] == "orders"
    assert row["audience"] == "https://orders.internal"
    assert row["scopes"] == ["orders:read", "orders:write"]
    code, out, _ = run(env, "apis", "list")
    assert table(out)[0] == ["NAME", "AUDIENCE", "SCOPES", "CREATED"]
    assert run(env, "apis", "delete", "orders")[0] == 0
    code, _, err = run(env, "apis", "list")
    assert (code, err.strip()) == (0, "no APIs")


def test_clients_create_prints_the_secret_once_and_stores_its_digest(
    env: dict[str, str], tmp_path: Path
) -> None:
    _orders(env)
    code, out, err = run(
        env, "clients", "create", "reporter", "--grant", "client_credentials",
        "--scope", "orders:read", "--json",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert set(created) == {"client_id", "client_secret"}
    assert len(created["client_secret"]) == 43  # token_urlsafe(32): 256 bits
    code, out, _ = run(env, "clients", "list", "--json")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["client_id"] == created["client_id"]
    assert row["grants"] == ["client_credentials"]
    assert row["auth"] == "client_secret_basic"
    assert created["client_secret"] not in out
    # Nowhere in the database either: only the SHA-256 digest is stored.
    files = list(Path(env["AUTHGATE_DATA_DIR"]).glob("authgate.db*"))  # with -wal
    assert files
    for file in files:
        assert created["client_secret"].encode() not in file.read_bytes()
    code, out, _ = run(env, "clients", "rotate-secret", "reporter", "--json")
    rotated = json.loads(out)
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    assert run(env, "clients", "delete", created["client_id"])[0] == 0
    code, _, err = run(env, "clients", "list")
    assert (code, err.strip()) == (0, "no clients")


def test_private_key_jwt_client_from_a_jwks_file(env: dict[str, str], tmp_path: Path) -> None:
    _orders(env)
    jwks = tmp_path / "keys.json"
    jwks.write_bytes(orjson.dumps({"keys": [generate_key("ES256").public_jwk()]}))
    code, out, err = run(
        env, "clients", "create", "signer", "--grant", "client_credentials", "--scope",
        "orders:read", "--auth", "private_key_jwt", "--jwks-file", str(jwks), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert set(json.loads(out)) == {"client_id"}  # no secret to show
    code, _, err = run(env, "clients", "rotate-secret", "signer")
    assert code == 1
    assert err.startswith("error: ")


_CC = ("clients", "create", "c", "--grant", "client_credentials", "--scope", "orders:read")
_KEYED = (*_CC, "--auth", "private_key_jwt")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("apis", "create", "x", "--audience", "no uri", "--scope", "x:y"), "absolute URI"),
        (
            ("apis", "create", "d", "--audience", "https://orders.internal", "--scope", "d:r"),
            "conflict",
        ),
        (
            ("apis", "create", "s", "--audience", "https://s.internal", "--scope", "orders:read"),
            "owned",
        ),
        (("apis", "delete", "nope"), "not_found"),
        (("clients", "create", "c", "--grant", "client_credentials", "--scope", "made:up"), "owns"),
        (("clients", "create", "c", "--grant", "password", "--scope", "orders:read"), "--grant"),
        (_KEYED, "--jwks"),
        ((*_KEYED, "--jwks-file", "missing.json"), "missing.json"),
        ((*_KEYED, "--jwks-uri", "http://example.com/jwks"), "https://"),
        ((*_KEYED, "--jwks-uri", "file:///etc/passwd"), "https://"),
        (("clients", "delete", "nobody"), "not_found"),
        (("clients", "rotate-secret", "nobody"), "not_found"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    env: dict[str, str], args: tuple[str, ...], fragment: str
) -> None:
    _orders(env)
    code, _, err = run(env, *args)
    assert code == 1
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1, err
    assert fragment in err
    assert "Traceback" not in err


def test_hmac_keys_are_refused_for_assertions(env: dict[str, str], tmp_path: Path) -> None:
    _orders(env)
    jwks = tmp_path / "keys.json"
    jwks.write_text('{"keys": [{"kty": "oct", "k": "' + "A" * 43 + '", "alg": "HS256"}]}')
    code, _, err = run(
        env, "clients", "create", "c", "--grant", "client_credentials", "--scope",
        "orders:read", "--auth", "private_key_jwt", "--jwks-file", str(jwks),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("error: ")


def test_clients_create_with_a_jwks_uri_registers_the_url(env: dict[str, str]) -> None:
    _orders(env)
    uri = "https://keys.example.com/client/jwks"
    code, out, err = run(env, *_KEYED, "--jwks-uri", uri, "--json")
    assert code == 0, err
    assert set(json.loads(out)) == {"client_id"}  # no secret to show
    code, out, _ = run(env, "clients", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["auth"], r["jwks_uri"]) for r in rows] == [("private_key_jwt", uri)]


@pytest.mark.parametrize("client_id", ["-LdashFirst012345678", "--dash-dash-first-0123"])
def test_a_client_id_that_starts_with_a_dash_is_taken_as_the_argument(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, client_id: str
) -> None:
    """A client_id is base64url (``secrets.token_urlsafe``), so one in 64 starts with
    "-": ``rotate-secret`` and ``delete`` must take it as the id, not fail with "no
    such option" (a clean-clone CI run met one)."""
    from authgate.service import registry

    monkeypatch.setattr(registry, "new_id", lambda: client_id)
    _orders(env)
    code, out, err = run(
        env, "clients", "create", "reporter", "--grant", "client_credentials",
        "--scope", "orders:read", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["client_id"] == client_id
    code, out, err = run(env, "clients", "rotate-secret", client_id, "--json")
    assert (code, err) == (0, ""), err
    assert json.loads(out)["client_id"] == client_id
    code, out, err = run(env, "clients", "delete", client_id)
    assert (code, out.strip(), err) == (0, f"deleted client {client_id}", "")
    code, _, err = run(env, "clients", "list")
    assert (code, err.strip()) == (0, "no clients")
