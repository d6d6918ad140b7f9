"""The recovery pages over HTTP: ``/forgot`` answers alike and checks the CSRF token,
``/reset`` and ``/verify`` load their script under the strict CSP, and the sign-in
page explains an unverified address (``AUTHGATE_REQUIRE_VERIFIED_EMAIL``)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from authgate.clock import FrozenClock
from pages.test_pages_http import PASSWORD, form, make_client


def test_the_forgot_form_answers_alike_and_needs_the_csrf_token(tmp_path: Path) -> None:
    with make_client(tmp_path, FrozenClock(time.time())) as c:
        body = {"username": "forgetful", "password": PASSWORD, "email": "forgetful@example.com"}
        assert c.post("/users", json=body).status_code == 201
        answers = []
        for value in ("forgetful@example.com", "nobody@example.com", "forgetful", "nobody"):
            r = c.post("/forgot", data=form(c, "/forgot", email=value))
            answers.append((r.status_code, r.headers["location"]))
        assert answers == [(303, "/?m=reset_sent")] * 4
        notice = c.get("/?m=reset_sent").text
        assert "If an account matches, a link to choose a new password is on its way." in notice
        forged = c.post("/forgot", data={"email": "forgetful@example.com"})
        assert forged.status_code == 403
        empty = c.post("/forgot", data=form(c, "/forgot", email=""))
        assert empty.status_code == 400
        assert "Enter your email address or username." in empty.text


def test_the_sign_in_page_links_to_forgot_and_the_link_pages_load_their_script(
    tmp_path: Path,
) -> None:
    with make_client(tmp_path, FrozenClock(time.time())) as c:
        assert 'href="/forgot"' in c.get("/").text
        for path, endpoint in (
            ("/reset", "/auth/password-reset/confirm"),
            ("/verify", "/auth/email/verify"),
        ):
            r = c.get(path)
            assert r.status_code == 200
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert '<script src="/pages/static/recovery.js" defer></script>' in r.text
            assert re.search(r"<script(?![^>]*\bsrc=)", r.text) is None  # no inline script
            assert f'="{endpoint}"' in r.text
        script = c.get("/pages/static/recovery.js")
        assert script.status_code == 200
        assert "location.hash" in script.text
        assert "replaceState" in script.text


def test_the_sign_in_page_explains_an_unverified_address(tmp_path: Path) -> None:
    with make_client(tmp_path, FrozenClock(time.time()), require_verified_email=True) as c:
        body = {"username": "unconfirmed", "password": PASSWORD, "email": "u@example.com"}
        assert c.post("/users", json=body).status_code == 201
        wrong = c.post("/signin", data=form(c, "/", username="unconfirmed", password="x" * 12))
        assert wrong.status_code == 401
        right = c.post("/signin", data=form(c, "/", username="unconfirmed", password=PASSWORD))
        assert right.status_code == 403
        assert "Confirm your email address first" in right.text
