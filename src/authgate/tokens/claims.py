"""Claim rules for the JWTs authgate issues (RFC 7519 §4.1, RFC 9068 §2.2 and §4).

The checks run only on a payload whose signature has already been verified
(RFC 7519 §7.2 step order; SECURITY.md A.2 #8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from authgate.errors import Expired, InvalidClaim, NotYetValid

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "MAX_LEEWAY",
    "VerifiedToken",
    "check_claims",
    "normalize_typ",
]

#: RFC 9068 §2.1: access tokens carry ``typ: at+jwt``.
ACCESS_TOKEN_TYPE = "at+jwt"
MAX_LEEWAY = 60.0


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and claims passed. Immutable, so it can be cached."""

    sub: str
    jti: str
    iat: float
    exp: float
    client_id: str
    scope: frozenset[str]
    sid: str | None
    typ: str
    kid: str
    claims: Mapping[str, Any]


def normalize_typ(typ: object) -> str | None:
    """RFC 8725 §3.11 / RFC 9068 §4: media types compare case-insensitively and
    may omit the ``application/`` prefix."""
    if not isinstance(typ, str):
        return None
    t = typ.lower()
    return t[12:] if t.startswith("application/") else t


def _number(claims: Mapping[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required or name in claims:
            raise InvalidClaim(name)
        return None
    # bool is an int subclass; "9999999999" is a string: neither is a NumericDate.
    if type(value) is int:
        return float(value)
    if type(value) is float and math.isfinite(value):
        return value
    raise InvalidClaim(name, f"{name} must be a NumericDate")


# A frozen dataclass's generated __init__ calls object.__setattr__ once per field, a
# visible share of a cached verification (BENCHMARKS.md, "Tokens"); the verify hot
# path fills the slots directly.
_new = object.__new__
(
    _set_sub,
    _set_jti,
    _set_iat,
    _set_exp,
    _set_client_id,
    _set_scope,
    _set_sid,
    _set_typ,
    _set_kid,
    _set_claims,
) = (
    getattr(VerifiedToken, f).__set__
    for f in ("sub", "jti", "iat", "exp", "client_id", "scope", "sid", "typ", "kid", "claims")
)
_NO_SCOPE: frozenset[str] = frozenset()


def _times(claims: dict[str, Any], now: float, leeway: float) -> tuple[float, float]:
    """``exp`` and ``iat`` as floats, after the three time rules.

    Raises:
        Expired: ``now`` is at or past ``exp + leeway`` (RFC 7519 §4.1.4).
        NotYetValid: ``nbf`` or ``iat`` lies beyond ``now + leeway`` (§4.1.5, §4.1.6).
        InvalidClaim: ``exp`` or ``iat`` missing, or a time claim not a NumericDate.
    """
    get = claims.get
    # Fast path for the common integer NumericDate; _number handles the rest.
    try:
        exp = get("exp")
        exp = float(exp) if type(exp) is int else _number(claims, "exp", True)
        iat = get("iat")
        iat = float(iat) if type(iat) is int else _number(claims, "iat", True)
        nbf = get("nbf")
        if nbf is not None or "nbf" in claims:
            nbf = float(nbf) if type(nbf) is int else _number(claims, "nbf", False)
    except OverflowError as exc:  # an int beyond a double; orjson already caps at 64 bits
        raise InvalidClaim("exp", "a NumericDate is out of range") from exc
    assert exp is not None
    assert iat is not None
    if now >= exp + leeway:
        raise Expired("token has expired")
    if nbf is not None and nbf > now + leeway:
        raise NotYetValid("token is not valid yet (nbf)")
    if iat > now + leeway:
        raise NotYetValid("token was issued in the future (iat)")
    return exp, iat


def _audience_listed(aud: object, audience: str) -> bool:
    """RFC 7519 §4.1.3, for an ``aud`` that is not a string: a non-empty list of
    strings that contains ``audience``; any other shape fails."""
    return type(aud) is list and bool(aud) and all(type(a) is str for a in aud) and audience in aud


def check_claims(
    claims: dict[str, Any],
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    typ: str,
    kid: str,
) -> VerifiedToken:
    """Check a payload whose signature verified and return it typed.

    The codec's hot path: positional arguments, and ``claims`` is a fresh dict the
    caller hands over (it is wrapped, not copied).

    Raises:
        Expired: ``now`` is at or past ``exp + leeway`` (RFC 7519 §4.1.4).
        NotYetValid: ``nbf`` or ``iat`` lies beyond ``now + leeway`` (§4.1.5, §4.1.6).
        InvalidClaim: a required claim is missing or of the wrong type; ``iss``
            differs in any way (RFC 9068 §4, exact comparison); ``aud`` does not
            contain ``audience`` (RFC 7519 §4.1.3).
    """
    exp, iat = _times(claims, now, leeway)
    get = claims.get
    iss = get("iss")
    if type(iss) is not str or iss != issuer:
        raise InvalidClaim("iss", "issuer does not match")
    aud = get("aud")  # the common single string is compared here, lists in the helper
    if not (aud == audience if type(aud) is str else _audience_listed(aud, audience)):
        raise InvalidClaim("aud", "audience does not match")
    sub = get("sub")
    if type(sub) is not str or not sub:
        raise InvalidClaim("sub")
    jti = get("jti")
    if type(jti) is not str or not jti:
        raise InvalidClaim("jti")
    client_id = get("client_id")
    if type(client_id) is not str or not client_id:
        raise InvalidClaim("client_id")
    scope_claim = get("scope", "")
    if type(scope_claim) is not str:
        raise InvalidClaim("scope")
    sid = get("sid")
    if sid is not None and (type(sid) is not str or not sid):
        raise InvalidClaim("sid")
    token: VerifiedToken = _new(VerifiedToken)
    _set_sub(token, sub)
    _set_jti(token, jti)
    _set_iat(token, iat)
    _set_exp(token, exp)
    _set_client_id(token, client_id)
    _set_scope(token, frozenset(scope_claim.split()) if scope_claim else _NO_SCOPE)
    _set_sid(token, sid)
    _set_typ(token, typ)
    _set_kid(token, kid)
    _set_claims(token, MappingProxyType(claims))
    return token
