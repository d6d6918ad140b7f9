"""Verify authgate's access tokens in another service, offline, from its JWKS.

Imports no SQLAlchemy, Redis, ``authgate.service`` or ``authgate.store`` (a test
checks it in a fresh interpreter)::

    from authgate.verifier import JWKSVerifier

    async with JWKSVerifier.from_issuer("https://auth.example.com", audience="orders") as v:
        token = await v.verify_access_token(raw)
"""

from authgate.verifier._http import FetchLimits
from authgate.verifier._keysource import KeyRefreshPolicy, VerifierStatus
from authgate.verifier._verifier import JWKSVerifier
from authgate.verifier.introspection import BearerCredentials, ClientCredentials

__all__ = [
    "BearerCredentials",
    "ClientCredentials",
    "FetchLimits",
    "JWKSVerifier",
    "KeyRefreshPolicy",
    "VerifierStatus",
]
