"""Which URLs the verifier may fetch from, and where an issuer's metadata lives.

CVE-2026-48522 (PyJWKClient SSRF): a key URL handed to a generic opener let
``file://``, ``ftp://`` and ``data:`` URLs load attacker keys. Here a URL is
``https://``, or plain ``http://`` only to a loopback host (127.0.0.0/8, ::1,
``localhost``) for development and tests; nothing else is ever opened.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from authgate._net import is_loopback
from authgate.errors import ConfigError

__all__ = ["check_fetch_url", "metadata_url"]

#: RFC 8414 §3: the well-known suffix of the authorization server metadata.
WELL_KNOWN = "/.well-known/oauth-authorization-server"


def check_fetch_url(url: object, *, what: str) -> str:
    """Return ``url`` if the verifier may fetch it.

    Raises:
        ConfigError: not a string, not absolute, a scheme other than https (or
            http to loopback), credentials in the URL, or a fragment.
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise ConfigError(f"{what} must be a non-empty URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError as exc:
        raise ConfigError(f"{what} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ConfigError(f"{what} must be an https:// URL, not {scheme or 'relative'!s}")
    if not host:
        raise ConfigError(f"{what} has no host")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{what} must not carry credentials")
    if parts.fragment:
        raise ConfigError(f"{what} must not have a fragment")
    if scheme == "http" and not is_loopback(host):
        raise ConfigError(f"{what} must use https:// (plain http only to loopback)")
    return url


def metadata_url(issuer: str) -> str:
    """The RFC 8414 §3.1 metadata URL of ``issuer``.

    The well-known suffix goes between the host and any path component:
    ``https://a.example/tenant`` → ``https://a.example/.well-known/oauth-authorization-server/tenant``.

    Raises:
        ConfigError: the issuer is not a fetchable URL, or has a query (RFC 8414 §2).
    """
    check_fetch_url(issuer, what="issuer")
    parts = urlsplit(issuer)
    if parts.query:
        raise ConfigError("issuer must not have a query component (RFC 8414 §2)")
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))
