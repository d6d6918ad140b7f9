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

__all__ = ["ACCESS_TOKEN_TYPE", "MAX_LEEWAY", "VerifiedToken", "normalize_typ", "validate_claims"]

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

    def has_scopes(self, required: frozenset[str]) -> bool:
        return required <= self.scope


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


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if type(value) is not str or not value:
        raise InvalidClaim(name)
    return value


def validate_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: float,
    leeway: float,
    typ: str,
    kid: str,
) -> VerifiedToken:
    """Check a verified payload and return it typed.

    Raises:
        Expired: ``now`` is at or past ``exp + leeway`` (RFC 7519 §4.1.4).
        NotYetValid: ``nbf`` or ``iat`` lies beyond ``now + leeway`` (§4.1.5, §4.1.6).
        InvalidClaim: a required claim is missing or of the wrong type; ``iss``
            differs in any way (RFC 9068 §4, exact comparison); ``aud`` does not
            contain ``audience`` (RFC 7519 §4.1.3).
    """
    exp = _number(claims, "exp", True)
    iat = _number(claims, "iat", True)
    nbf = _number(claims, "nbf", False)
    assert exp is not None
    assert iat is not None
    if now >= exp + leeway:
        raise Expired("token has expired")
    if nbf is not None and nbf > now + leeway:
        raise NotYetValid("token is not valid yet (nbf)")
    if iat > now + leeway:
        raise NotYetValid("token was issued in the future (iat)")
    if claims.get("iss") != issuer or type(claims.get("iss")) is not str:
        raise InvalidClaim("iss", "issuer does not match")
    aud = claims.get("aud")
    if type(aud) is str:
        ok = aud == audience
    elif type(aud) is list and aud and all(type(a) is str for a in aud):
        ok = audience in aud
    else:
        ok = False
    if not ok:
        raise InvalidClaim("aud", "audience does not match")
    sub = _string(claims, "sub")
    jti = _string(claims, "jti")
    client_id = _string(claims, "client_id")
    scope_claim = claims.get("scope", "")
    if type(scope_claim) is not str:
        raise InvalidClaim("scope")
    sid = claims.get("sid")
    if sid is not None and (type(sid) is not str or not sid):
        raise InvalidClaim("sid")
    return VerifiedToken(
        sub=sub,
        jti=jti,
        iat=iat,
        exp=exp,
        client_id=client_id,
        scope=frozenset(scope_claim.split()),
        sid=sid,
        typ=typ,
        kid=kid,
        claims=MappingProxyType(dict(claims)),
    )
