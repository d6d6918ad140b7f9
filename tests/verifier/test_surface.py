"""The public surface of authgate.verifier: every exported name resolves (the FastAPI
ones lazily), and it implements the AccessTokenVerifier protocol."""

from __future__ import annotations

import authgate.verifier as verifier
import authgate.verifier.fastapi as verifier_fastapi
from authgate.tokens import AccessTokenVerifier


def test_every_name_in_all_exists() -> None:
    names = verifier.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(verifier, name) is not None, name


def test_fastapi_names_are_the_web_layers_own() -> None:
    from authgate.web import AuthMiddleware, CurrentUser, require_scopes

    assert verifier.CurrentUser is CurrentUser
    assert verifier.require_scopes is require_scopes
    assert verifier.AuthMiddleware is AuthMiddleware
    assert set(verifier_fastapi.__all__) <= {*verifier.__all__, "TokenGuard"}


def test_jwks_verifier_is_an_access_token_verifier() -> None:
    v: AccessTokenVerifier = verifier.JWKSVerifier(
        issuer="https://auth.example.com", audience="orders"
    )
    assert callable(v.verify_access_token)
