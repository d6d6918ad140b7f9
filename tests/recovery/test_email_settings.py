"""Email settings: the nested section from the environment, a bad SMTP URL refused in
one line, and the zero-config development sender (0600 files with the links)."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import EmailSettings, Settings
from authgate.testing import test_settings
from recovery._smtp import free_port
from recovery.conftest import register
from server.conftest import LiveServer, serve

AUTHGATE = Path(sys.executable).parent / "authgate"


def test_email_settings_come_from_the_environment_and_hide_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("AUTHGATE_EMAIL__SMTP_URL", "smtp+starttls://mailer:s3cret@mx.test:587")
    monkeypatch.setenv("AUTHGATE_EMAIL__FROM", "accounts@example.com")
    monkeypatch.setenv("AUTHGATE_REQUIRE_VERIFIED_EMAIL", "true")
    monkeypatch.setenv("AUTHGATE_PUBLIC_URL", "https://app.example.com")
    settings = Settings()
    assert settings.email.sender == "accounts@example.com"
    assert settings.require_verified_email is True
    assert settings.public_url == "https://app.example.com"
    assert settings.email.smtp_url is not None
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mx.test", "the scheme must be smtp://, smtp+starttls:// or smtps://"),
        ("smtp://mx.test:port", "the port is not a number"),
        ("smtps://", "no host"),
    ],
)
def test_a_bad_smtp_url_stops_serve_with_one_line(tmp_path: Path, url: str, message: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "AUTHGATE_DATA_DIR": str(tmp_path / "data"),
        "AUTHGATE_EMAIL__SMTP_URL": url,
    }
    done = subprocess.run(
        [str(AUTHGATE), "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr


def test_without_smtp_messages_go_to_private_files_in_the_data_dir(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "data", issuer="http://auth.test")
    app = create_app(settings, clock=FrozenClock(time.time()))
    with serve(app) as (url, loop):
        live = LiveServer(url, app, FrozenClock(time.time()), loop, settings)
        with live.client() as c:
            register(c, "devuser", "dev@example.com")
        outbox = tmp_path / "data" / "outbox"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(outbox.glob("*.eml")):
            time.sleep(0.05)  # a readiness wait for the worker's pass
        files = list(outbox.glob("*.eml"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    text = files[0].read_text()
    assert "To: dev@example.com" in text
    assert "http://auth.test/verify#token=" in text


def test_a_deployment_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "verify.txt").write_text("Custom words for {{ username }}: {{ link }}\n")
    settings = test_settings(
        tmp_path / "data",
        issuer="http://auth.test",
        public_url="https://pages.example.com/",
        email={"templates_dir": templates, "product_name": "Example Co"},
    )
    app = create_app(settings, clock=FrozenClock(time.time()))
    with serve(app) as (url, loop):
        live = LiveServer(url, app, FrozenClock(time.time()), loop, settings)
        with live.client() as c:
            register(c, "custom", "custom@example.com")
        outbox = tmp_path / "data" / "outbox"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(outbox.glob("*.eml")):
            time.sleep(0.05)
        text = next(outbox.glob("*.eml")).read_text()
    assert "Custom words for custom: https://pages.example.com/verify#token=" in text
    assert "Subject: Confirm your Example Co email address" in text
    assert "Example Co" in text  # the shipped HTML part, with the product name


def test_check_warns_about_unsent_mail_and_refuses_clear_text_smtp_in_production(
    tmp_path: Path,
) -> None:
    from authgate.server.check import check_settings

    def found(**email: str) -> set[tuple[str, str]]:
        settings = test_settings(
            tmp_path, production=True, issuer="https://auth.example.com", email=email
        )
        return {(p.level, p.setting) for p in check_settings(settings, host="0.0.0.0")}

    assert ("warning", "AUTHGATE_EMAIL__SMTP_URL") in found()
    assert ("error", "AUTHGATE_EMAIL__SMTP_URL") in found(smtp_url="smtp://mx.example.com")
    for fine in ("smtp://127.0.0.1:25", "smtp+starttls://u:p@mx.example.com", "smtps://mx.test"):
        assert not any(s == "AUTHGATE_EMAIL__SMTP_URL" for _, s in found(smtp_url=fine)), fine


def test_a_lease_shorter_than_two_send_timeouts_is_refused() -> None:
    # Another instance could claim a message whose send is still running, and send it
    # again: the settings refuse the combination instead.
    with pytest.raises(ValidationError, match="at least twice"):
        EmailSettings(lease=20, timeout=15)
    assert EmailSettings(lease=30, timeout=15).lease == 30
