"""The pages over HTTP, in process against the real app and service (SQLite file):
status codes, CSRF refusals, error texts, headers and the server-side refresh."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authgate.clock import FrozenClock
from authgate.pages._render import describe_device
from authgate.server import create_app
from authgate.settings import CookieSettings, ThrottleSettings
from authgate.testing import test_settings

PASSWORD = "wobbly-lantern-orchid-73"
NEW_PASSWORD = "quiet-harbour-falcon-58"
BASE = "https://testserver"
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_client(
    tmp_path: Path, clock: FrozenClock | None = None, **overrides: object
) -> TestClient:
    values: dict[str, object] = {
        "cookies": CookieSettings(enabled=True),
        "throttle": ThrottleSettings(backoff_base=60),
    }
    values.update(overrides)
    settings = test_settings(tmp_path, **values)
    return TestClient(create_app(settings, clock=clock), base_url=BASE, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = _HIDDEN.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def form(c: TestClient, path: str, **fields: str) -> dict[str, str]:
    """The fields plus the CSRF token of the page at ``path``."""
    return {**fields, "csrf_token": csrf_of(c.get(path).text)}


def sign_up(c: TestClient, username: str) -> None:
    r = c.post("/signup", data=form(c, "/", username=username, password=PASSWORD))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/account?m=welcome"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(time.time())


@pytest.fixture
def client(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    with make_client(tmp_path, clock) as c:
        yield c


def test_sign_in_page_sets_the_csrf_cookie_and_strict_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-authgate-csrf=")
    assert "Secure" in cookie
    assert "Path=/" in cookie
    assert csrf_of(r.text) == client.cookies.get("__Host-authgate-csrf")


@pytest.mark.parametrize("token", [None, "", "x" * 43, "short"])
def test_posts_without_the_matching_csrf_token_are_refused(
    client: TestClient, token: str | None
) -> None:
    client.get("/")
    fields = {"username": "mallory", "password": PASSWORD}
    if token is not None:
        fields["csrf_token"] = token
    assert client.post("/signup", data=fields).status_code == 403
    assert client.post("/signin", data=fields).status_code == 403
    # Nothing happened: the account does not exist.
    r = client.post("/signin", data=form(client, "/", **fields))
    assert r.status_code == 401


def test_oversized_or_repeated_form_fields_are_a_bad_request(client: TestClient) -> None:
    fields = form(client, "/", username="ada")
    huge = client.post("/signin", data={**fields, "password": "x" * 20_000})
    assert huge.status_code == 400
    assert "Bad request" in huge.text
    body = "username=a&username=b&password=p&csrf_token=" + fields["csrf_token"]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert client.post("/signin", content=body, headers=headers).status_code == 400


def test_sign_in_errors_say_what_to_do(client: TestClient) -> None:
    sign_up(client, "ada")
    client.cookies.clear()
    empty = client.post("/signin", data=form(client, "/", username="", password=""))
    assert empty.status_code == 400
    assert "Enter your username." in empty.text
    assert "Enter your password." in empty.text
    wrong = client.post("/signin", data=form(client, "/", username="ada", password="nope" * 3))
    assert wrong.status_code == 401
    assert 'id="signin-password-error">Wrong username or password.</p>' in wrong.text
    assert 'aria-describedby="signin-password-error"' in wrong.text
    assert "__Host-authgate-access" not in wrong.headers.get("set-cookie", "")


def test_repeated_failures_are_throttled_with_retry_after(client: TestClient) -> None:
    sign_up(client, "bob")
    client.cookies.clear()
    statuses = []
    for _ in range(6):
        r = client.post("/signin", data=form(client, "/", username="bob", password="bad" * 4))
        statuses.append(r.status_code)
    assert statuses[-1] == 429, statuses
    assert int(r.headers["retry-after"]) >= 1
    assert re.search(r"Too many attempts — try again in \d+ s\.", r.text)


def test_sign_up_errors_are_beside_the_fields(client: TestClient) -> None:
    sign_up(client, "carol")
    client.cookies.clear()
    taken = client.post("/signup", data=form(client, "/", username="carol", password=PASSWORD))
    assert taken.status_code == 400
    assert 'id="signup-username-error">That username is taken.' in taken.text
    weak = client.post("/signup", data=form(client, "/", username="dave", password="password1"))
    assert weak.status_code == 400
    assert 'id="signup-password-error">' in weak.text
    assert 'aria-invalid="true"' in weak.text


def test_account_page_without_cookies_sends_to_sign_in(client: TestClient) -> None:
    r = client.get("/account")
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_a_dead_refresh_cookie_signs_out_and_clears_the_cookies(client: TestClient) -> None:
    client.cookies.set("__Host-authgate-refresh", "not-a-refresh-token")
    r = client.get("/account")
    assert r.status_code == 303
    assert r.headers["location"] == "/?m=expired"
    assert any(
        h.startswith("__Host-authgate-refresh=") and "Max-Age=0" in h
        for h in r.headers.get_list("set-cookie")
    )


def test_expired_access_token_is_refreshed_on_page_load(
    client: TestClient, clock: FrozenClock
) -> None:
    sign_up(client, "erin")
    old_refresh = client.cookies.get("__Host-authgate-refresh")
    clock.advance(3600)  # the access token (15 min) is long expired, the session is not
    r = client.get("/account")
    assert r.status_code == 200
    assert client.cookies.get("__Host-authgate-refresh") != old_refresh
    # The forms carry the CSRF token the browser holds after this response.
    assert csrf_of(r.text) == client.cookies.get("__Host-authgate-csrf")
    assert client.get("/account").status_code == 200


def test_signed_in_visitor_of_the_sign_in_page_goes_to_the_account(client: TestClient) -> None:
    sign_up(client, "fay")
    r = client.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/account"


def test_notice_names_a_fixed_text_and_reflects_nothing(client: TestClient) -> None:
    assert "You are signed out." in client.get("/?m=signed_out").text
    r = client.get("/?m=<script>alert(1)</script>")
    assert "<script>alert" not in r.text
    assert 'class="notice"' not in r.text


def test_ending_a_session_that_is_not_there_says_so(client: TestClient) -> None:
    sign_up(client, "gus")
    for missing in ("no-such-session", "x" * 500):
        r = client.post(f"/account/sessions/{missing}/end", data=form(client, "/account"))
        assert r.status_code == 303
        assert r.headers["location"] == "/account?m=session_gone"


def test_password_change_errors_and_success_keep_this_browser_in(client: TestClient) -> None:
    sign_up(client, "hal")
    blank = client.post("/account/password", data=form(client, "/account"))
    assert blank.status_code == 400
    assert "Enter your current password." in blank.text
    wrong = client.post(
        "/account/password",
        data=form(client, "/account", current_password="nope" * 3, new_password=NEW_PASSWORD),
    )
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.text
    weak = client.post(
        "/account/password",
        data=form(client, "/account", current_password=PASSWORD, new_password="password1"),
    )
    assert weak.status_code == 400
    assert 'id="pw-new-error">' in weak.text
    ok = client.post(
        "/account/password",
        data=form(client, "/account", current_password=PASSWORD, new_password=NEW_PASSWORD),
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/account?m=password_changed"
    assert client.get("/account").status_code == 200


def test_static_files_are_only_the_shipped_ones(client: TestClient) -> None:
    css = client.get("/pages/static/authgate.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (
        client.get("/pages/static/authgate.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )
    assert client.get("/pages/static/nope.js").status_code == 404
    assert client.get("/pages/static/..%2F_render.py").status_code == 404


def test_pages_say_they_are_off_without_the_cookie_transport(tmp_path: Path) -> None:
    settings = test_settings(tmp_path)
    with TestClient(create_app(settings, pages=True), base_url=BASE) as c:
        r = c.get("/")
        assert r.status_code == 404
        assert "AUTHGATE_COOKIES__ENABLED=true" in r.text
        assert c.post("/signin", data={}).status_code == 404
        assert c.get("/account").status_code == 404


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (None, "Unknown device"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Version/18.0 Safari/604.1",
            "Safari on iPhone",
        ),
        ("Mozilla/5.0 (Windows NT 10.0) Gecko/20100101 Firefox/140.0", "Firefox on Windows"),
        ("curl/8.5.0", "curl"),
        ("weird\x00agent\u202e", "weirdagent"),
    ],
)
def test_describe_device_names_common_browsers(user_agent: str | None, shown: str) -> None:
    assert describe_device(user_agent) == shown


def _api_session(c: TestClient, username: str) -> dict[str, str]:
    """A second session of the user (another device), as its bearer header."""
    r = c.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_ending_the_other_session_revokes_it(client: TestClient) -> None:
    sign_up(client, "ivy")
    other = _api_session(client, "ivy")
    page = client.get("/account").text
    assert page.count('<tr class="session') == 2
    sessions = client.get("/users/me/sessions", headers=other).json()
    other_id = next(s["id"] for s in sessions if s["current"])
    r = client.post(f"/account/sessions/{other_id}/end", data=form(client, "/account"))
    assert r.headers["location"] == "/account?m=session_ended"
    assert client.get("/users/me", headers=other).status_code == 401
    assert client.get("/account").text.count('<tr class="session') == 1


def test_ending_this_session_signs_this_browser_out(client: TestClient) -> None:
    sign_up(client, "jay")
    page = client.get("/account").text
    this_id = re.search(r'data-session-id="([^"]+)"', page)
    assert this_id
    r = client.post(f"/account/sessions/{this_id.group(1)}/end", data=form(client, "/account"))
    assert r.headers["location"] == "/?m=signed_out"
    assert client.get("/account").headers["location"] == "/"


def test_sign_out_ends_only_this_session(client: TestClient) -> None:
    sign_up(client, "kim")
    other = _api_session(client, "kim")
    r = client.post("/signout", data=form(client, "/account"))
    assert r.headers["location"] == "/?m=signed_out"
    assert client.get("/account").headers["location"] == "/"
    assert client.get("/users/me", headers=other).status_code == 200


def test_sign_out_everywhere_ends_every_session(client: TestClient) -> None:
    sign_up(client, "lee")
    other = _api_session(client, "lee")
    r = client.post("/account/signout-everywhere", data=form(client, "/account"))
    assert r.headers["location"] == "/?m=signed_out_everywhere"
    assert client.get("/account").headers["location"] == "/"
    assert client.get("/users/me", headers=other).status_code == 401


def test_account_actions_after_the_session_ended_go_to_sign_in(client: TestClient) -> None:
    sign_up(client, "max")
    fields = form(client, "/account")
    assert client.post("/account/signout-everywhere", data=fields).status_code == 303
    # The CSRF cookie is gone with the session; a stale form is refused, not obeyed.
    again = client.post("/signout", data=fields)
    assert again.status_code == 403
