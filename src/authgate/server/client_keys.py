"""The fetch behind clients registered with a ``jwks_uri`` (SECURITY.md A.7 #55).

``service/`` imports no HTTP client (ARCHITECTURE.md, layer map), so the server hands
it this function, built on the verifier's own fetching: the URL policy (https, or
plain http to loopback only), a total timeout, a 64 KiB body cap, no redirects, JSON
objects only. What the set may contain is the service's rule (public keys only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate.service.client_jwks import JwksFetcher
from authgate.verifier import FetchLimits
from authgate.verifier._http import fetch_json, new_client
from authgate.verifier._urls import check_fetch_url

__all__ = ["client_jwks_fetcher"]


def client_jwks_fetcher(limits: FetchLimits | None = None) -> JwksFetcher:
    """A :data:`~authgate.service.client_jwks.JwksFetcher` under ``limits``.

    The function raises ConfigError (a refused URL) or JWKSError (timeout,
    connection failure, non-200, redirect, not JSON, too large).
    """
    used = limits or FetchLimits()

    async def fetch(url: str) -> tuple[Mapping[str, Any], float | None]:
        check_fetch_url(url, what="the client's jwks_uri")
        async with new_client(used) as client:
            fetched = await fetch_json(client, url, used)
        return fetched.document, fetched.max_age

    return fetch
