"""``authgate serve`` with no configuration: the issuer is the address served (on
loopback) and the browser pages are on; anything the operator set wins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from authgate.cli.serve import zero_config_defaults
from authgate.settings import Settings


@pytest.fixture(autouse=True)
def _no_developer_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AUTHGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env


def test_zero_config_issuer_is_the_loopback_address_served() -> None:
    defaults = zero_config_defaults(Settings(), "127.0.0.1", 8765)
    assert defaults["AUTHGATE_ISSUER"] == "http://127.0.0.1:8765"
    assert zero_config_defaults(Settings(), "::1", 9000)["AUTHGATE_ISSUER"] == "http://[::1]:9000"


def test_zero_config_turns_the_browser_pages_on() -> None:
    assert (
        zero_config_defaults(Settings(), "127.0.0.1", 8000)["AUTHGATE_COOKIES__ENABLED"] == "true"
    )


def test_issuer_is_not_guessed_off_loopback() -> None:
    assert "AUTHGATE_ISSUER" not in zero_config_defaults(Settings(), "0.0.0.0", 8000)


def test_operator_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHGATE_ISSUER", "https://auth.example.com")
    monkeypatch.setenv("AUTHGATE_COOKIES__ENABLED", "false")
    assert zero_config_defaults(Settings(), "127.0.0.1", 8000) == {}
