"""Turn a fetched JWK Set into verify-only keys, or refuse it whole.

A JWK Set from the network is untrusted input, read by
:func:`authgate.tokens.keys.load_jwk_set` with ``public_only=True`` (whose
docstring gives each rule and its RFC section): keys that are not for verifying
signatures or that authgate does not implement (``use: enc``, X25519, P-521, an
unknown ``alg``) are ignored, as RFC 7517 §5 asks; the whole set is refused
(JWKSError, and the last good set stays in use) when it is not a JWK Set, when any
key carries a private member or is symmetric (SECURITY.md A.6 #43), when two usable
keys share a ``kid``, or when no key is usable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate.errors import JWKSError, UnsafeKey
from authgate.tokens.keys import MAX_KEYS, Key, load_jwk_set
from authgate.verifier._http import FetchLimits, fetch_json, new_client
from authgate.verifier._urls import check_fetch_url

__all__ = ["MAX_KEYS", "fetch_jwks", "fetch_jwks_document", "parse_jwks"]


def parse_jwks(document: Mapping[str, Any]) -> list[Key]:
    """Validate a fetched JWK Set and return its usable keys, verify-only.

    Raises:
        JWKSError: the whole set is refused (see the module docstring).
    """
    try:
        return load_jwk_set(document, public_only=True)
    except UnsafeKey as exc:
        raise JWKSError(exc.message) from exc


async def fetch_jwks(url: str, *, limits: FetchLimits | None = None) -> list[Key]:
    """Fetch a JWK Set once, under the rules the verifier itself fetches by: the URL
    policy of :mod:`authgate.verifier._urls` (https, or http only to loopback), the
    caps of :mod:`authgate.verifier._http` (time, size, no redirect, JSON only) and
    the JWK Set rules above. For one-off checks (``authgate token verify --jwks
    URL``); a service keeps its keys fresh with :class:`JWKSVerifier`.

    Raises:
        ConfigError: the URL is refused.
        JWKSError: the fetch failed, or the JWK Set is refused.
    """
    check_fetch_url(url, what="the JWK Set URL")
    limits = limits or FetchLimits()
    async with new_client(limits) as client:
        fetched = await fetch_json(client, url, limits)
    return parse_jwks(fetched.document)


async def fetch_jwks_document(
    url: str, *, limits: FetchLimits | None = None, what: str = "the JWK Set URL"
) -> tuple[dict[str, Any], float | None]:
    """Fetch a JSON object once under the URL policy and the HTTP caps of
    :func:`fetch_jwks`, and return it unparsed with its ``Cache-Control: max-age``
    (None if absent). For callers that apply their own JWK Set rules and cache (the
    auth server, for clients registered with a ``jwks_uri``).

    Raises:
        ConfigError: the URL is refused.
        JWKSError: the fetch failed.
    """
    check_fetch_url(url, what=what)
    limits = limits or FetchLimits()
    async with new_client(limits) as client:
        fetched = await fetch_json(client, url, limits)
    return fetched.document, fetched.max_age
