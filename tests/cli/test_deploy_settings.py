"""The settings behind SECURITY.md A.7 #51-#53: the trusted-proxy list and what
``serve`` passes to uvicorn, ``audit list --since``, and the file-mode helpers."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from authgate.cli import app
from authgate.cli.audit import parse_since
from authgate.cli.serve import proxy_options
from authgate.server.check import check_settings
from authgate.settings import Settings, parse_trusted_proxies
from authgate.store.files import create_private_file, make_private_dir

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("", []),
        ("10.0.0.5", ["10.0.0.5"]),
        ("10.0.0.5, 10.1.0.0/16", ["10.0.0.5", "10.1.0.0/16"]),
        ("127.0.0.1 ::1", ["127.0.0.1", "::1"]),
        ("fd00::/8,192.0.2.7/32", ["fd00::/8", "192.0.2.7"]),
        ("0:0:0:0:0:0:0:1", ["::1"]),
    ],
)
def test_trusted_proxies_are_addresses_or_networks(value: str, parsed: list[str]) -> None:
    assert parse_trusted_proxies(value) == parsed


@pytest.mark.parametrize("value", ["*", "proxy.lan", "10.0.0.1/8", "10.0.0.0/33", "10.0.0"])
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="not an IP address or CIDR"):
        Settings(_env_file=None, trusted_proxies=value)


def test_proxy_headers_are_off_unless_proxies_are_named() -> None:
    # uvicorn's own default trusts 127.0.0.1 and $FORWARDED_ALLOW_IPS; "" trusts no one.
    assert proxy_options(Settings(_env_file=None)) == {
        "proxy_headers": False,
        "forwarded_allow_ips": "",
    }
    named = Settings(_env_file=None, trusted_proxies="10.0.0.5, 10.1.0.0/16")
    assert proxy_options(named) == {
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.5,10.1.0.0/16",
    }


def test_a_proxy_list_that_trusts_everyone_is_a_warning() -> None:
    settings = Settings(_env_file=None, trusted_proxies="0.0.0.0/0")
    assert any(p.setting == "AUTHGATE_TRUSTED_PROXIES" for p in check_settings(settings))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24h", NOW - 86_400),
        ("7d", NOW - 7 * 86_400),
        ("30m", NOW - 1800),
        ("2w", NOW - 14 * 86_400),
        ("2027-01-15T08:00:00Z", dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC).timestamp()),
        ("2027-01-15T08:00:00", dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC).timestamp()),
        ("2027-01-15T10:00:00+02:00", dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC).timestamp()),
        ("2027-01-15", dt.datetime(2027, 1, 15, tzinfo=dt.UTC).timestamp()),
    ],
)
def test_since_is_iso_8601_or_relative(value: str, expected: float) -> None:
    assert parse_since(value, NOW) == expected


@pytest.mark.parametrize("value", ["", "yesterday", "24", "-1d", "1y", "7 d", "2027-13-01"])
def test_since_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since(value, NOW)


def test_private_paths_ignore_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        make_private_dir(tmp_path / "a" / "data")
        create_private_file(tmp_path / "b" / "authgate.db")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "b" / "authgate.db").stat().st_mode) == 0o600


def test_audit_list_creates_no_database(tmp_path: Path) -> None:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHGATE_")}
    env["AUTHGATE_DATA_DIR"] = str(tmp_path / "missing")
    result = CliRunner().invoke(app, ["audit", "list"], env=env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "no database at" in result.stderr
    assert not (tmp_path / "missing").exists()
