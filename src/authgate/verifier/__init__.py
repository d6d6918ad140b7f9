"""Verify authgate's access tokens in another service, offline, from its JWKS.

Imports no SQLAlchemy, Redis, ``authgate.service`` or ``authgate.store`` (a test
checks it in a fresh interpreter)::

    from authgate.verifier import JWKSVerifier

    issuer, orders = "http://127.0.0.1:8000", "https://orders.internal"  # its API's audience
    async with JWKSVerifier.from_issuer(issuer, audience=orders) as v:
        token = await v.verify_access_token(raw)

A service's own calls to another API carry a token minted for that API::

    auth = ClientCredentialsAuth(token_url, client_id, secret, resource="https://orders.internal")
    async with httpx.AsyncClient(auth=auth) as http: ...

The FastAPI pieces (``CurrentUser``, ``OptionalUser``, ``require_scopes``,
``protect``, ``verifier_lifespan``, ``AuthMiddleware``) live in
:mod:`authgate.verifier.fastapi` and are also importable from here; they are loaded
only when first asked for, so the verifier itself needs no FastAPI. They are the web
layer's own objects: ``CurrentUser`` is the caller here as on the auth server.
``CurrentPrincipal`` / ``OptionalPrincipal`` are deprecated aliases of them.
"""

import warnings as _warnings
from typing import TYPE_CHECKING, Any

from authgate.verifier._ccauth import ClientCredentialsAuth
from authgate.verifier._http import FetchLimits
from authgate.verifier._jwks import fetch_jwks, fetch_jwks_document
from authgate.verifier._keysource import KeyRefreshPolicy, VerifierStatus
from authgate.verifier._verifier import JWKSVerifier
from authgate.verifier.introspection import BearerCredentials, ClientCredentials

if TYPE_CHECKING:
    from authgate.verifier.fastapi import (
        AuthMiddleware,
        CurrentUser,
        OptionalUser,
        protect,
        require_acr,
        require_amr,
        require_scopes,
        verifier_lifespan,
    )

_FASTAPI_NAMES = frozenset(
    {
        "AuthMiddleware",
        "CurrentUser",
        "OptionalUser",
        "protect",
        "require_acr",
        "require_amr",
        "require_scopes",
        "verifier_lifespan",
    }
)

#: Old names kept for services written against authgate 0.1 (one release, warned).
_DEPRECATED = {"CurrentPrincipal": "CurrentUser", "OptionalPrincipal": "OptionalUser"}

__all__ = [
    "AuthMiddleware",
    "BearerCredentials",
    "ClientCredentials",
    "ClientCredentialsAuth",
    "CurrentUser",
    "FetchLimits",
    "JWKSVerifier",
    "KeyRefreshPolicy",
    "OptionalUser",
    "VerifierStatus",
    "fetch_jwks",
    "fetch_jwks_document",
    "protect",
    "require_acr",
    "require_amr",
    "require_scopes",
    "verifier_lifespan",
]


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        _warnings.warn(
            f"authgate.verifier.{name} is deprecated: use {_DEPRECATED[name]}",
            DeprecationWarning,
            stacklevel=2,
        )
        name = _DEPRECATED[name]
    if name in _FASTAPI_NAMES:
        from authgate.verifier import fastapi

        return getattr(fastapi, name)
    raise AttributeError(name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
