"""``authgate keys`` and ``authgate token``: through typer's CliRunner, and once
as the real installed executable in a subprocess."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from _forge import b64, claims, compact, header_for, sign_raw
from typer.testing import CliRunner

from authgate.cli import app
from authgate.clock import SystemClock
from authgate.tokens import KeyRing, TokenCodec, load_jwk, load_pem

runner = CliRunner()
ISSUER = "https://auth.example.com"
EXECUTABLE = Path(sys.executable).parent / "authgate"


def _issue(keyfile: Path) -> str:
    raw = keyfile.read_bytes()
    key = load_jwk(json.loads(raw)) if raw.startswith(b"{") else load_pem(raw)
    codec = TokenCodec(KeyRing.single(key), issuer=ISSUER, audience="api", clock=SystemClock())
    token, _ = codec.issue(sub="user-1", ttl=900, client_id="cli", scope={"read"})
    return token


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "PS256"])
def test_generate_writes_a_private_pem_with_mode_0600(alg: str, tmp_path: Path) -> None:
    out = tmp_path / "key.pem"
    result = runner.invoke(app, ["keys", "generate", "--alg", alg, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = load_pem(out.read_bytes())
    assert key.alg == ("RS256" if alg == "PS256" else alg)  # a PEM carries no algorithm
    assert key.has_private
    assert key.kid in result.stdout


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256", "HS512"])
def test_generate_jwk_to_stdout_round_trips(alg: str) -> None:
    result = runner.invoke(app, ["keys", "generate", "--alg", alg, "--format", "jwk"])
    assert result.exit_code == 0, result.output
    key = load_jwk(json.loads(result.stdout))
    assert key.alg == alg
    assert key.has_private


def test_generate_refuses_to_overwrite_and_bad_choices(tmp_path: Path) -> None:
    out = tmp_path / "key.pem"
    out.write_text("keep me")
    result = runner.invoke(app, ["keys", "generate", "--out", str(out)])
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert out.read_text() == "keep me"
    for args in (["--alg", "none"], ["--alg", "HS256"], ["--alg", "RS512", "--format", "jwk"]):
        result = runner.invoke(app, ["keys", "generate", *args])
        assert result.exit_code == 1, args
        assert result.stderr.startswith("error: ")
        assert len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, ["keys", "generate", "--format", "der"])
    assert result.exit_code == 2  # a usage error, reported by typer


def test_jwks_publishes_only_public_members(tmp_path: Path) -> None:
    pem, jwk = tmp_path / "a.pem", tmp_path / "b.jwk"
    assert (
        runner.invoke(app, ["keys", "generate", "--alg", "ES256", "--out", str(pem)]).exit_code == 0
    )
    assert (
        runner.invoke(
            app, ["keys", "generate", "--alg", "EdDSA", "--format", "jwk", "--out", str(jwk)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["keys", "jwks", str(pem), str(jwk)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [k["kty"] for k in document["keys"]] == ["EC", "OKP"]
    for member in ("d", "p", "q", "dp", "dq", "qi", "oth", "k"):
        assert all(member not in k for k in document["keys"])
    assert len(KeyRing.from_jwks(document)) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "neither a PEM key nor a JWK"),
        (b"{not json", "error: "),
        (b'{"kty":"oct","k":"' + b64(bytes(range(32))).encode() + b'"}', "HMAC"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "unsafe_key"),
    ],
)
def test_jwks_bad_input_is_one_line(content: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    result = runner.invoke(app, ["keys", "jwks", str(path)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_decode_marks_output_unverified(tmp_path: Path) -> None:
    key = tmp_path / "k.jwk"
    runner.invoke(app, ["keys", "generate", "--format", "jwk", "--out", str(key)])
    token = _issue(key)
    result = runner.invoke(app, ["token", "decode", token])
    assert result.exit_code == 0, result.output
    assert "UNVERIFIED" in result.stderr
    document = json.loads(result.stdout)
    assert document["UNVERIFIED"] is True
    assert document["claims"]["sub"] == "user-1"
    assert document["header"]["typ"] == "at+jwt"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("abc", "malformed"),
        ("a.b.c.d.e", "unsupported_token"),
        ('{"payload":"x"}', "unsupported_token"),
        ("e30.e30=.e30", "malformed"),
        (f"{b64(b'[1]')}.e30.e30", "malformed"),
        ("\u00e9.\u00e9.\u00e9", "malformed"),
    ],
)
def test_decode_bad_input_is_one_line(token: str, code: str) -> None:
    result = runner.invoke(app, ["token", "decode", token])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {code}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def _jwks_for(keyfile: Path, tmp_path: Path) -> Path:
    result = runner.invoke(app, ["keys", "jwks", str(keyfile)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "jwks.json"
    path.write_text(result.stdout)
    return path


def test_verify_prints_claims_or_the_reason_code(tmp_path: Path) -> None:
    keyfile = tmp_path / "k.pem"
    runner.invoke(app, ["keys", "generate", "--alg", "ES256", "--out", str(keyfile)])
    jwks = _jwks_for(keyfile, tmp_path)
    token = _issue(keyfile)
    base = ["token", "verify", "--jwks", str(jwks), "--issuer", ISSUER, "--audience", "api"]

    ok = runner.invoke(app, [*base, token])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["sub"] == "user-1"
    from_stdin = runner.invoke(app, [*base, "-"], input=token + "\n")
    assert from_stdin.exit_code == 0

    cases = {
        "bad_signature": token[:-8]
        + ("AAAAAAAA" if not token.endswith("AAAAAAAA") else "BBBBBBBB"),
        "invalid_claim": None,
        "wrong_token_type": None,
        "malformed": "x.y",
    }
    for code, bad in cases.items():
        args = [*base, bad or token]
        if code == "invalid_claim":
            args = [*base[:-1], "other-service", token]
        if code == "wrong_token_type":
            args = [*base, "--typ", "rt+jwt", token]
        result = runner.invoke(app, args)
        assert result.exit_code == 1, code
        assert result.stderr.startswith(f"error: {code}: "), (code, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_verify_bad_jwks_or_options_is_one_line(tmp_path: Path) -> None:
    keyfile = tmp_path / "k.pem"
    runner.invoke(app, ["keys", "generate", "--out", str(keyfile)])
    token = _issue(keyfile)
    not_json = tmp_path / "nope.json"
    not_json.write_text("<html>")
    not_a_set = tmp_path / "list.json"
    not_a_set.write_text("[1, 2]")
    for jwks, code in (
        (
            tmp_path / "missing.json",
            f"error: cannot read {tmp_path / 'missing.json'}: no such file",
        ),
        (not_json, "jwks_error"),
        (not_a_set, "unsafe_key"),
    ):
        result = runner.invoke(
            app,
            ["token", "verify", token, "--jwks", str(jwks), "--issuer", ISSUER, "--audience", "a"],
        )
        assert result.exit_code == 1
        assert code in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(
        app,
        [
            "token",
            "verify",
            token,
            "--jwks",
            str(not_json),
            "--issuer",
            ISSUER,
            "--audience",
            "a",
            "--leeway",
            "3600",
        ],
    )
    assert result.exit_code == 1
    assert "--leeway" in result.stderr


def test_verify_rejects_forged_tokens(tmp_path: Path) -> None:
    keyfile = tmp_path / "k.pem"
    runner.invoke(app, ["keys", "generate", "--alg", "EdDSA", "--out", str(keyfile)])
    jwks = _jwks_for(keyfile, tmp_path)
    key = load_pem(keyfile.read_bytes())
    none = f"{b64(compact({'alg': 'none'}))}.{b64(compact(claims()))}."
    embedded = sign_raw(key, header_for(key, jwk=key.public_jwk()), claims())
    for forged, code in ((none, "malformed"), (embedded, "unsupported_token")):
        result = runner.invoke(
            app,
            [
                "token",
                "verify",
                forged,
                "--jwks",
                str(jwks),
                "--issuer",
                ISSUER,
                "--audience",
                "api",
            ],
        )
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: {code}")


def test_the_installed_executable_generates_publishes_and_verifies(tmp_path: Path) -> None:
    """The real ``authgate`` console script, in a subprocess."""
    assert EXECUTABLE.exists()
    keyfile = tmp_path / "signing.pem"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EXECUTABLE), *args], capture_output=True, text=True, timeout=60, check=False
        )

    generated = run("keys", "generate", "--alg", "ES256", "--out", str(keyfile))
    assert generated.returncode == 0, generated.stderr
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    published = run("keys", "jwks", str(keyfile))
    assert published.returncode == 0, published.stderr
    jwks = tmp_path / "jwks.json"
    jwks.write_text(published.stdout)
    token = _issue(keyfile)
    verified = run(
        "token", "verify", token, "--jwks", str(jwks), "--issuer", ISSUER, "--audience", "api"
    )
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["client_id"] == "cli"
    refused = run(
        "token", "verify", token + "=", "--jwks", str(jwks), "--issuer", ISSUER, "--audience", "api"
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: malformed: ")
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
