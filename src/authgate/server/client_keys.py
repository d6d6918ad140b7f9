"""The fetch behind clients registered with a ``jwks_uri`` (SECURITY.md A.7 #55).

``service/`` imports no HTTP client (ARCHITECTURE.md, layer map), so the server hands
it this function, built on the verifier's own fetching
(:func:`authgate.verifier.fetch_jwks_document`): the URL policy (https, or plain http
to loopback only), a total timeout, a 64 KiB body cap, no redirects, JSON objects
only. What the set may contain is the service's rule (public keys only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate.service.client_jwks import JwksFetcher
from authgate.verifier import FetchLimits, fetch_jwks_document

__all__ = ["client_jwks_fetcher"]


def client_jwks_fetcher(limits: FetchLimits | None = None) -> JwksFetcher:
    """A :data:`~authgate.service.client_jwks.JwksFetcher` under ``limits``.

    The function raises ConfigError (a refused URL) or JWKSError (timeout,
    connection failure, non-200, redirect, not JSON, too large).
    """

    async def fetch(url: str) -> tuple[Mapping[str, Any], float | None]:
        return await fetch_jwks_document(url, limits=limits, what="the client's jwks_uri")

    return fetch
