"""The public surface: every exported name exists, and every error has a stable,
machine-readable code (STYLE.md "Errors")."""

from __future__ import annotations

import inspect
import re

import pytest

import authgate.errors as errors
import authgate.tokens as tokens

#: Codes other layers, HTTP bodies and logs already rely on: they never change.
STABLE_CODES = {
    "AuthError": "auth_error",
    "TokenError": "invalid_token",
    "MalformedToken": "malformed",
    "UnsupportedToken": "unsupported_token",
    "BadSignature": "bad_signature",
    "UnknownKey": "unknown_key",
    "Expired": "expired",
    "NotYetValid": "not_yet_valid",
    "InvalidClaim": "invalid_claim",
    "WrongTokenType": "wrong_token_type",
    "Revoked": "revoked",
    "GrantError": "invalid_grant",
    "InvalidGrant": "invalid_grant",
    "RefreshReuse": "refresh_reuse",
    "InvalidScope": "invalid_scope",
    "InvalidRequest": "invalid_request",
    "InvalidCredentials": "invalid_credentials",
    "InsufficientScope": "insufficient_scope",
    "RateLimited": "rate_limited",
    "PasswordRejected": "weak_password",
    "UnsafeKey": "unsafe_key",
    "ConfigError": "unsafe_config",
    "JWKSError": "jwks_error",
    "StoreUnavailable": "store_unavailable",
}

#: The one intended repeat: GrantError is the abstract base of the RFC 6749 §5.2
#: errors and answers "invalid_grant" itself, like its subclass InvalidGrant.
SHARED_CODES = {"invalid_grant": {"GrantError", "InvalidGrant"}}


@pytest.mark.parametrize("module", [tokens, errors])
def test_every_name_in_all_exists(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(module, name) is not None, name


def _error_classes() -> dict[str, type[errors.AuthError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AuthError) and cls.__module__ == errors.__name__
    }


def test_every_error_class_is_exported() -> None:
    assert set(_error_classes()) <= set(errors.__all__)


def test_error_codes_are_stable() -> None:
    classes = _error_classes()
    for name, code in STABLE_CODES.items():
        assert classes[name].code == code, name


def test_error_codes_are_distinct_except_the_documented_repeat() -> None:
    by_code: dict[str, set[str]] = {}
    for name, cls in _error_classes().items():
        assert re.fullmatch(r"[a-z][a-z_]*", cls.code), (name, cls.code)
        by_code.setdefault(cls.code, set()).add(name)
    repeated = {code: names for code, names in by_code.items() if len(names) > 1}
    assert repeated == SHARED_CODES


def test_every_token_error_is_a_token_error() -> None:
    for name in (
        "MalformedToken",
        "UnsupportedToken",
        "BadSignature",
        "UnknownKey",
        "Expired",
        "NotYetValid",
        "InvalidClaim",
        "WrongTokenType",
        "Revoked",
    ):
        assert issubclass(getattr(errors, name), errors.TokenError)
    assert issubclass(errors.RefreshReuse, errors.InvalidGrant)


def test_every_error_class_has_a_one_line_docstring() -> None:
    for name, cls in _error_classes().items():
        doc = (cls.__dict__.get("__doc__") or "").strip()
        assert doc, name
        assert "\n" not in doc, name


def test_the_module_docstring_draws_every_error_class() -> None:
    tree = errors.__doc__ or ""
    drawn = set(re.findall(r"[├└]── (\w+)", tree)) | {"AuthError"}
    assert drawn == set(_error_classes())
