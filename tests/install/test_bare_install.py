"""``pip install authgate`` (no extra) is a working resource server: the verifier and
the web layer import and check tokens without any of the auth server's packages, and
a server feature fails with one line naming ``authgate[server]``.

A fresh virtualenv gets the package from this checkout, its dependencies pinned to
the lock's versions (requirements/dev.txt), so the test needs the package index."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
SERVER_LINE = 'install "authgate[server]"'


def _pins(tmp: Path) -> Path:
    """The lock's versions as a pip constraints file (hashes dropped)."""
    lock = (ROOT / "requirements" / "dev.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+==[^\s;\\]+)", lock, re.M)
    path = tmp / "pins.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bare")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run(
        [*install, "-c", str(_pins(tmp)), str(ROOT)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.fail(f"pip install authgate failed:\n{done.stderr[-3000:]}")
    return venv


def _run(venv: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        env=env,
        cwd=venv.parent,
        timeout=120,
    )


def test_bare_install_serves_a_resource_server_without_server_packages(bare: Path) -> None:
    done = _run(
        bare,
        bare / "bin" / "python",
        HERE / "bare_resource_server.py",
        ROOT / "examples" / "resource_server.py",
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers["present"] == []
    assert answers["me"] == [200, {"sub": "alice", "scope": ["orders:read"]}]
    status, challenge = answers["bad"]
    assert status == 401
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge
    assert answers["scope"][0] == 403
    assert answers["scope"][1]["error"] == "insufficient_scope"
    assert SERVER_LINE in answers["server_import"]
    assert SERVER_LINE in answers["endpoints_import"]  # the auth server's endpoints
    door = answers["front_door"]
    for name in ("AuthGate", "create_app"):  # one line naming the extra
        message = door.pop(name)
        assert message.startswith("error: "), (name, message)
        assert SERVER_LINE in message, (name, message)
    assert door == dict.fromkeys(
        [
            "AuthMiddleware",
            "CurrentUser",
            "OptionalUser",
            "Settings",
            "TokenGuard",
            "__version__",
            "require_acr",
            "require_amr",
            "require_scopes",
        ],
        "ok",
    )


def test_bare_install_cli_keeps_keys_and_token_commands(bare: Path) -> None:
    authgate = bare / "bin" / "authgate"
    key = _run(bare, authgate, "keys", "generate", "--alg", "ES256", "--out", bare.parent / "k.pem")
    assert key.returncode == 0, key.stderr
    jwks = _run(bare, authgate, "keys", "jwks", bare.parent / "k.pem")
    assert jwks.returncode == 0, jwks.stderr
    assert json.loads(jwks.stdout)["keys"][0]["alg"] == "ES256"


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["check"],
        ["users", "list"],
        ["sessions", "list", "alice"],
        ["db", "upgrade"],
        ["keys", "rotate"],
        ["keys", "list"],
    ],
)
def test_bare_install_server_command_fails_with_one_line(bare: Path, command: list[str]) -> None:
    done = _run(bare, bare / "bin" / "authgate", *command)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: authgate ")
    assert SERVER_LINE in lines[0]
    assert "Traceback" not in done.stderr
