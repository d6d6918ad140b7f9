"""Verify authgate's access tokens in another service, offline, from its JWKS.

Imports no SQLAlchemy, Redis, ``authgate.service`` or ``authgate.store`` (a test
checks it in a fresh interpreter)::

    from authgate.verifier import JWKSVerifier

    async with JWKSVerifier.from_issuer("https://auth.example.com", audience="orders") as v:
        token = await v.verify_access_token(raw)

The FastAPI pieces (``CurrentPrincipal``, ``OptionalPrincipal``, ``require_scopes``,
``protect``, ``verifier_lifespan``, ``AuthMiddleware``) live in
:mod:`authgate.verifier.fastapi` and are also importable from here; they are loaded
only when first asked for, so the verifier itself needs no FastAPI.
"""

from typing import TYPE_CHECKING, Any

from authgate.verifier._http import FetchLimits
from authgate.verifier._jwks import fetch_jwks
from authgate.verifier._keysource import KeyRefreshPolicy, VerifierStatus
from authgate.verifier._verifier import JWKSVerifier
from authgate.verifier.introspection import BearerCredentials, ClientCredentials

if TYPE_CHECKING:
    from authgate.verifier.fastapi import (
        AuthMiddleware,
        CurrentPrincipal,
        OptionalPrincipal,
        protect,
        require_scopes,
        verifier_lifespan,
    )

_FASTAPI_NAMES = frozenset(
    {
        "AuthMiddleware",
        "CurrentPrincipal",
        "OptionalPrincipal",
        "protect",
        "require_scopes",
        "verifier_lifespan",
    }
)

__all__ = [
    "AuthMiddleware",
    "BearerCredentials",
    "ClientCredentials",
    "CurrentPrincipal",
    "FetchLimits",
    "JWKSVerifier",
    "KeyRefreshPolicy",
    "OptionalPrincipal",
    "VerifierStatus",
    "fetch_jwks",
    "protect",
    "require_scopes",
    "verifier_lifespan",
]


def __getattr__(name: str) -> Any:
    if name in _FASTAPI_NAMES:
        from authgate.verifier import fastapi

        return getattr(fastapi, name)
    raise AttributeError(name)
