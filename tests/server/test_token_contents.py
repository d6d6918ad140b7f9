"""SECURITY.md A.3 #23: an access token carries nothing beyond need.

A JWS is only base64: anyone holding the token reads its payload. So the payload names
the user by the opaque ``sub`` alone; the username, the email address and the password
hash never appear, and every claim is one of a known, non-personal set (RFC 9068 §2.2,
§6).
"""

from __future__ import annotations

import base64
import json

from .conftest import PASSWORD, LiveServer

#: RFC 9068 §2.2 and RFC 7519 §4.1 claims, authgate's session and credential binding
#: (``sid``, ``gen``), and the actor and authentication-context claims (RFC 8693 §4.1,
#: RFC 8176, RFC 9470): none of them describes the person.
NON_PERSONAL_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "sid", "gen"}
    | {"act", "amr", "acr", "auth_time"}
)


def payload(token: str) -> tuple[dict[str, object], str]:
    segment = token.split(".")[1]
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
    return json.loads(raw), raw


def test_access_token_holds_no_personal_data(live: LiveServer) -> None:
    username, email = "Priya.Contents", "priya.contents@example.org"
    with live.client() as client:
        r = client.post("/users", json={"username": username, "password": PASSWORD, "email": email})
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        login = live.login(client, username)
        refreshed = client.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text

    for token in (login["access_token"], refreshed.json()["access_token"]):
        claims, raw = payload(token)
        assert claims["sub"] == user_id != username
        assert set(claims) <= NON_PERSONAL_CLAIMS, sorted(set(claims) - NON_PERSONAL_CLAIMS)
        for personal in (username, username.casefold(), email, "priya", PASSWORD):
            assert personal not in raw.casefold()
        assert "$argon2" not in raw
