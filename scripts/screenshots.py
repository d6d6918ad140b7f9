"""Refresh docs/screenshots/*.png: the browser pages of a real ``authgate serve``.

Usage: ``.venv/bin/python scripts/screenshots.py`` (needs Debian's /usr/bin/chromium
and the dev extra: playwright, fastapi-offline). It starts the server on a free
loopback port with a throwaway data directory, signs up a demo user from two
browsers, and photographs each page; Swagger UI's files come from the
``fastapi-offline`` package instead of the CDN, so no network is needed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER, PASSWORD = "ada", "correct horse battery staple"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(
        {
            "AUTHGATE_DATA_DIR": str(data_dir),
            "AUTHGATE_ISSUER": f"http://localhost:{port}",
            "AUTHGATE_COOKIES__ENABLED": "true",
            "AUTHGATE_DEFAULT_SCOPES": '["profile", "items:read"]',
        }
    )
    command = [sys.executable, "-c", "from authgate.cli import main; main()", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        # A fixed argv: our own interpreter running our own CLI.
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: authgate serve exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"error: authgate serve did not start:\n{log.read_text()}")


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"wrote {path.relative_to(ROOT)}")


def pages(browser: Browser, base: str) -> None:
    desk = browser.new_context(viewport={"width": 1000, "height": 720}, user_agent=DESKTOP_UA)
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, user_agent=PHONE_UA, device_scale_factor=1
    )
    page = desk.new_page()
    page.goto(base + "/")
    shot(page, "sign-in")

    page.locator("#signup-username").fill(USER)
    page.locator("#signup-password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(base + "/account?m=welcome")

    mobile = phone.new_page()
    mobile.goto(base + "/")
    mobile.locator("#signin-username").fill(USER)
    mobile.locator("#signin-password").fill("not my password")
    mobile.get_by_role("button", name="Sign in", exact=True).click()
    mobile.locator("#signin-password-error").wait_for()
    shot(mobile, "sign-in-error-phone", full_page=False)
    mobile.locator("#signin-password").fill(PASSWORD)
    mobile.get_by_role("button", name="Sign in", exact=True).click()
    mobile.wait_for_url(base + "/account")

    page.goto(base + "/account")
    shot(page, "account")
    mobile.reload()
    shot(mobile, "account-phone")
    desk.close()
    phone.close()


def swagger(browser: Browser, base: str) -> None:
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    page = context.new_page()
    page.goto(base + "/docs")
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("#oauth_username").fill(USER)
    dialog.locator("#oauth_password").fill(PASSWORD)
    shot(page, "swagger-authorize", full_page=False)
    dialog.locator(".auth-btn-wrapper button.authorize").click()
    dialog.get_by_text("Authorized").first.wait_for()
    dialog.locator(".auth-btn-wrapper button", has_text="Close").click()
    operation = page.locator("#operations-users-me_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    result = operation.locator(".live-responses-table tbody tr.response").first
    result.wait_for()
    result.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -260)")
    shot(page, "swagger-users-me", full_page=False)
    context.close()


def main() -> None:
    if not Path(CHROMIUM).is_file():
        sys.exit(f"error: {CHROMIUM} is missing (apt-get install chromium)")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_server(Path(tmp) / "data", port, Path(tmp) / "serve.log")
        base = f"http://localhost:{port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    pages(browser, base)
                    swagger(browser, base)
                finally:
                    browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
