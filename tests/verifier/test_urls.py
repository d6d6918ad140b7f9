"""RFC 8414 §3.1: where an issuer's metadata lives."""

from __future__ import annotations

import pytest

from authgate._net import is_loopback
from authgate.verifier._urls import metadata_url

WK = "/.well-known/oauth-authorization-server"


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://auth.example.com", "https://auth.example.com" + WK),
        ("https://auth.example.com/", "https://auth.example.com" + WK),
        ("https://auth.example.com/tenant", "https://auth.example.com" + WK + "/tenant"),
        ("https://auth.example.com/a/b/", "https://auth.example.com" + WK + "/a/b"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000" + WK),
    ],
)
def test_metadata_url_inserts_the_well_known_suffix_before_the_path(
    issuer: str, expected: str
) -> None:
    assert metadata_url(issuer) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("localhost.example.com", False),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("[10.0.0.1]", False),
        ("", False),
        (None, False),
    ],
)
def test_only_loopback_hosts_count_as_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
