"""``authgate check`` rules (framework-free): unsafe settings are refused."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from authgate.server.check import check_settings, errors_of
from authgate.settings import CookieSettings, Settings, ThrottleSettings
from authgate.testing import test_settings
from authgate.tokens import generate_key

STRONG = secrets.token_urlsafe(48)


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return test_settings(tmp_path, **kw)


def problem_settings(
    tmp_path: Path, host: str = "127.0.0.1", workers: int = 1, **kw: Any
) -> set[str]:
    return {
        p.setting
        for p in errors_of(check_settings(settings(tmp_path, **kw), host=host, workers=workers))
    }


def test_defaults_are_safe_on_loopback(tmp_path: Path) -> None:
    assert errors_of(check_settings(settings(tmp_path))) == []


@pytest.mark.parametrize(
    "secret",
    ["changeme", "secret", "your-secret-key-change-me-please-0123456789", "a" * 64, "short"],
)
def test_weak_or_placeholder_hmac_secrets_are_refused(tmp_path: Path, secret: str) -> None:
    found = problem_settings(tmp_path, signing_algorithm="HS256", secret_key=SecretStr(secret))
    assert "AUTHGATE_SECRET_KEY" in found


def test_a_random_hmac_secret_is_accepted(tmp_path: Path) -> None:
    assert (
        problem_settings(tmp_path, signing_algorithm="HS256", secret_key=SecretStr(STRONG)) == set()
    )


def test_hs_without_secret_and_secret_without_hs_are_refused(tmp_path: Path) -> None:
    assert "AUTHGATE_SECRET_KEY" in problem_settings(tmp_path, signing_algorithm="HS256")
    assert "AUTHGATE_SECRET_KEY" in problem_settings(tmp_path, secret_key=SecretStr(STRONG))


def test_long_lived_access_tokens_are_refused(tmp_path: Path) -> None:
    assert problem_settings(tmp_path, access_token_ttl=3600) == set()
    # SECURITY.md A.4 #30: a hard bound, in every mode, not only with production=True.
    with pytest.raises(ValidationError, match="access_token_ttl"):
        settings(tmp_path, access_token_ttl=3601)
    with pytest.raises(ValidationError, match="access_token_ttl"):
        Settings(_env_file=None, access_token_ttl=86400)


@pytest.mark.parametrize("bad", ["", "two words", "a:b", "x" * 65, "ключ"])
def test_redis_namespace_is_a_short_plain_name(tmp_path: Path, bad: str) -> None:
    # It prefixes Redis keys and names a pub/sub channel: no separators, no spaces.
    assert settings(tmp_path, redis_namespace="tenant-a.prod_2").redis_namespace
    with pytest.raises(ValidationError, match="redis_namespace"):
        settings(tmp_path, redis_namespace=bad)


@pytest.mark.parametrize("command", [["check"], ["db", "current"]])
def test_cli_reports_an_over_long_ttl_in_one_line(tmp_path: Path, command: list[str]) -> None:
    env = {
        **os.environ,
        "AUTHGATE_ACCESS_TOKEN_TTL": "86400",
        "AUTHGATE_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("AUTHGATE_DATABASE_URL", None)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("authgate")), *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "AUTHGATE_ACCESS_TOKEN_TTL" in lines[0]
    assert "3600" in lines[0]
    assert "Traceback" not in done.stderr


def test_insecure_cookies_only_on_loopback(tmp_path: Path) -> None:
    cookies = CookieSettings(enabled=True, secure=False)
    assert problem_settings(tmp_path, cookies=cookies) == set()
    assert "AUTHGATE_COOKIES__SECURE" in problem_settings(tmp_path, host="0.0.0.0", cookies=cookies)


def test_open_registration_needs_throttling(tmp_path: Path) -> None:
    off = ThrottleSettings(enabled=False)
    assert "AUTHGATE_THROTTLE__ENABLED" in problem_settings(tmp_path, throttle=off)
    assert problem_settings(tmp_path, throttle=off, allow_registration=False) == set()


def test_production_needs_an_https_issuer(tmp_path: Path) -> None:
    assert "AUTHGATE_ISSUER" in problem_settings(tmp_path, production=True)
    ok = problem_settings(tmp_path, production=True, issuer="https://auth.example.com")
    assert "AUTHGATE_ISSUER" not in ok
    assert "AUTHGATE_ISSUER" in problem_settings(tmp_path, issuer="auth.example.com")
    assert "AUTHGATE_ISSUER" in problem_settings(tmp_path, issuer="https://a.example/?x=1")


def test_unknown_algorithm_is_refused(tmp_path: Path) -> None:
    assert "AUTHGATE_SIGNING_ALGORITHM" in problem_settings(tmp_path, signing_algorithm="none")


def test_signing_key_file_must_be_a_usable_private_key(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    assert "AUTHGATE_SIGNING_KEY_FILE" in problem_settings(tmp_path, signing_key_file=missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    assert "AUTHGATE_SIGNING_KEY_FILE" in problem_settings(tmp_path, signing_key_file=garbage)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    good = tmp_path / "good.pem"
    private = ed25519.Ed25519PrivateKey.generate()
    good.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert problem_settings(tmp_path, signing_key_file=good) == set()
    assert generate_key("EdDSA").has_private


def test_workers_without_redis_are_refused_in_production(tmp_path: Path) -> None:
    prod: dict[str, Any] = {"production": True, "issuer": "https://auth.example.com"}
    assert "AUTHGATE_REDIS_URL" in problem_settings(tmp_path, workers=4, **prod)
    warnings = check_settings(settings(tmp_path), workers=4)
    assert [p.level for p in warnings if p.setting == "AUTHGATE_REDIS_URL"] == ["warning"]


def test_a_redis_namespace_without_redis_is_a_warning(tmp_path: Path) -> None:
    alone = check_settings(settings(tmp_path, redis_namespace="tenant-a"))
    assert [(p.level, p.setting) for p in alone] == [("warning", "AUTHGATE_REDIS_NAMESPACE")]
    with_redis = settings(tmp_path, redis_namespace="tenant-a", redis_url="redis://127.0.0.1/0")
    assert "AUTHGATE_REDIS_NAMESPACE" not in {p.setting for p in check_settings(with_redis)}


def test_create_app_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    from authgate.errors import ConfigError
    from authgate.server import create_app

    with pytest.raises(ConfigError, match="AUTHGATE_ISSUER"):
        create_app(settings(tmp_path, production=True))
    create_app(settings(tmp_path, production=True, issuer="https://auth.example.com"))


def test_metrics_token_must_be_long_and_not_a_placeholder(tmp_path: Path) -> None:
    assert "AUTHGATE_METRICS_TOKEN" in problem_settings(tmp_path, metrics_token="short")
    assert "AUTHGATE_METRICS_TOKEN" in problem_settings(tmp_path, metrics_token="")
    placeholder = "changeme-" * 5
    assert "AUTHGATE_METRICS_TOKEN" in problem_settings(tmp_path, metrics_token=placeholder)
    assert "AUTHGATE_METRICS_TOKEN" not in problem_settings(tmp_path, metrics_token=STRONG)


def test_production_without_a_metrics_token_is_warned_about(tmp_path: Path) -> None:
    found = check_settings(settings(tmp_path, production=True), host="0.0.0.0")
    warned = {p.setting for p in found if p.level == "warning"}
    assert "AUTHGATE_METRICS_TOKEN" in warned
    secured = check_settings(
        settings(tmp_path, production=True, metrics_token=STRONG),
        host="0.0.0.0",
    )
    assert "AUTHGATE_METRICS_TOKEN" not in {p.setting for p in secured}
