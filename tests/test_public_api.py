"""The public surface: each public package exports exactly the names listed here
(as httpx's ``tests/test_exported_members.py`` does), every exported name exists, and
every error has a stable, machine-readable code (STYLE.md "Errors").

A name added to or dropped from an ``__all__`` fails here until this list says so:
the public API changes on purpose or not at all."""

from __future__ import annotations

import importlib
import inspect
import re
import types
import warnings

import pytest

import authgate
import authgate.errors as errors

EXPORTED: dict[str, list[str]] = {
    "authgate": [
        "AuthGate",
        "AuthMiddleware",
        "CurrentUser",
        "OptionalUser",
        "Settings",
        "TokenGuard",
        "__version__",
        "create_app",
        "require_acr",
        "require_amr",
        "require_scopes",
    ],
    "authgate.web": [
        "AuthMiddleware",
        "CurrentUser",
        "OptionalUser",
        "TokenGuard",
        "accept_authenticated",
        "authenticate_first_message",
        "current_user",
        "get_principal",
        "install_error_handlers",
        "optional_user",
        "require_acr",
        "require_amr",
        "require_scopes",
    ],
    "authgate.endpoints": ["AuthGate", "INTROSPECT_SCOPE"],
    "authgate.verifier": [
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
    ],
    "authgate.tokens": [
        "ACCESS_TOKEN_TYPE",
        "MAX_TOKEN_LENGTH",
        "SUPPORTED_ALGORITHMS",
        "AccessTokenVerifier",
        "ECKey",
        "EdDSAKey",
        "HMACKey",
        "Key",
        "KeyRing",
        "KeyState",
        "ManagedKey",
        "RSAKey",
        "RevocationCheck",
        "TokenCodec",
        "VerifiedToken",
        "VerifiedTokenCache",
        "decode_unverified",
        "generate_key",
        "hmac_key",
        "load_jwk",
        "load_pem",
        "loads_object",
    ],
    "authgate.testing": ["AuthGateTestKit", "CodecVerifier", "test_settings"],
    "authgate.settings": [
        "DEFAULT_REDIS_NAMESPACE",
        "AuditSettings",
        "CookieSettings",
        "MfaSettings",
        "EmailSettings",
        "PasswordSettings",
        "SessionSettings",
        "Settings",
        "ThrottleSettings",
        "WebAuthnSettings",
        "parse_trusted_proxies",
    ],
    "authgate.clock": ["Clock", "FrozenClock", "SystemClock"],
    "authgate.server": ["app_from_env", "create_app"],
}

#: Internals of the web layer: importable from their modules, never exported.
INTERNALS = {
    "PRINCIPAL_STATE": "authgate.web.guard",
    "AuthResult": "authgate.web.guard",
    "WS_BEARER_PREFIX": "authgate.web.transports",
    "WS_SUBPROTOCOL": "authgate.web.transports",
    "error_response": "authgate.web.errors",
}

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
    "TokenRequestFailed": "token_request_failed",
    "StoreUnavailable": "store_unavailable",
    "EmailNotVerified": "email_not_verified",
    "NothingToVerify": "nothing_to_verify",
}

#: The one intended repeat: GrantError is the abstract base of the RFC 6749 §5.2
#: errors and answers "invalid_grant" itself, like its subclass InvalidGrant.
SHARED_CODES = {"invalid_grant": {"GrantError", "InvalidGrant"}}


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_package_exports_exactly_the_listed_names(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(EXPORTED[package])
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", [*sorted(EXPORTED), "authgate.errors"])
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module), name


#: Names of the typing machinery a package's ``__init__`` may hold beside its exports.
TYPING_NAMES = {"TYPE_CHECKING", "Any", "annotations"}


@pytest.mark.parametrize(
    "package",
    [
        "authgate",
        "authgate.web",
        "authgate.endpoints",
        "authgate.verifier",
        "authgate.tokens",
        "authgate.server",
    ],
)
def test_no_public_name_outside_all(package: str) -> None:
    """What a package's namespace offers without an underscore is in ``__all__``
    (submodules and the typing machinery aside)."""
    module = importlib.import_module(package)
    for name in module.__all__:
        getattr(module, name)  # resolve the lazy ones first
    stray = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in TYPING_NAMES
        and name not in module.__all__
    }
    assert stray == set()


def test_front_door_names_are_the_layers_own_objects() -> None:
    from authgate.endpoints import AuthGate
    from authgate.server import create_app
    from authgate.settings import Settings
    from authgate.web import (
        AuthMiddleware,
        CurrentUser,
        OptionalUser,
        TokenGuard,
        require_acr,
        require_amr,
        require_scopes,
    )

    assert authgate.AuthGate is AuthGate
    assert authgate.AuthMiddleware is AuthMiddleware
    assert authgate.CurrentUser is CurrentUser
    assert authgate.OptionalUser is OptionalUser
    assert authgate.Settings is Settings
    assert authgate.TokenGuard is TokenGuard
    assert authgate.create_app is create_app
    assert authgate.require_scopes is require_scopes
    assert authgate.require_acr is require_acr
    assert authgate.require_amr is require_amr


def test_resource_server_half_names_no_endpoint() -> None:
    """``authgate.web`` is what a resource server needs; the auth server's endpoints
    are ``authgate.endpoints`` only (ARCHITECTURE.md, "Layer map")."""
    import authgate.web as web

    for name in EXPORTED["authgate.endpoints"]:
        assert not hasattr(web, name), name
        assert name not in dir(web), name


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'CurrentPrincipal'"):
        _ = authgate.CurrentPrincipal


@pytest.mark.parametrize(("name", "module"), sorted(INTERNALS.items()))
def test_internals_stay_in_their_modules(name: str, module: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None
    for package in ("authgate", "authgate.web"):
        public = importlib.import_module(package)
        assert name not in public.__all__
        assert not hasattr(public, name), (package, name)


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("authgate.verifier", "CurrentPrincipal", "CurrentUser"),
        ("authgate.verifier", "OptionalPrincipal", "OptionalUser"),
        ("authgate.verifier.fastapi", "CurrentPrincipal", "CurrentUser"),
        ("authgate.verifier.fastapi", "OptionalPrincipal", "OptionalUser"),
    ],
)
def test_old_verifier_names_are_deprecated_aliases(module: str, old: str, new: str) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: use {new}"):
        value = getattr(mod, old)
    assert value is getattr(importlib.import_module("authgate.web"), new)
    assert old not in importlib.import_module("authgate.verifier").__all__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(mod, new) is value  # the one name warns about nothing


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
