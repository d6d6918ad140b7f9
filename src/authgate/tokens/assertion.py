"""Client assertions: a JWT a client signs to authenticate itself (RFC 7523 §2.2, §3;
RFC 7521 §4.2, §5.2).

The signature step is the codec's own (shape, header rules, ``kid`` lookup, the
key's one algorithm, RFC 8725 §3.1), over a verify-only ring built from the client's
JWK Set; only then are the claims read (RFC 7519 §7.2):

- ``iss`` and ``sub`` are both the client_id (RFC 7523 §3 items 1-2);
- ``aud`` names the token endpoint URL or the issuer (item 3);
- ``exp`` is required, in the future (leeway included), and at most
  ``max_lifetime`` seconds ahead, so a leaked assertion is short-lived (item 4);
- ``nbf`` / ``iat`` not in the future (items 5-6);
- ``jti`` is required: the caller makes it single-use until ``exp`` (item 7).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from authgate.errors import InvalidClaim
from authgate.tokens._encoding import loads_object
from authgate.tokens.claims import _times
from authgate.tokens.codec import TokenCodec
from authgate.tokens.keyring import KeyRing

__all__ = ["MAX_ASSERTION_LIFETIME", "VerifiedAssertion", "verify_assertion"]

#: Authlib's default assertion lives one hour; longer is refused.
MAX_ASSERTION_LIFETIME = 3600
_MAX_JTI = 256


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    client_id: str
    jti: str
    exp: float


def verify_assertion(
    token: str,
    ring: KeyRing,
    *,
    client_id: str,
    audiences: Collection[str],
    now: float,
    leeway: float,
    max_lifetime: int = MAX_ASSERTION_LIFETIME,
) -> VerifiedAssertion:
    """Verify ``token`` as ``client_id``'s assertion (see the module docstring).

    Raises:
        TokenError: a bad shape, header, key or signature, or a claim that fails.
    """
    codec = TokenCodec(ring, issuer=client_id, audience=client_id, leeway=leeway)
    _, payload, _ = codec._check(token)
    claims = loads_object(payload)
    exp, _ = _times(claims, now, leeway)
    if exp > now + max_lifetime + leeway:
        raise InvalidClaim("exp", "the assertion expires too far ahead")
    if claims.get("iss") != client_id:
        raise InvalidClaim("iss")
    if claims.get("sub") != client_id:
        raise InvalidClaim("sub")
    aud = claims.get("aud")
    named = [aud] if type(aud) is str else aud if type(aud) is list else []
    if not any(type(a) is str and a in audiences for a in named):
        raise InvalidClaim("aud")
    jti = claims.get("jti")
    if type(jti) is not str or not 0 < len(jti) <= _MAX_JTI:
        raise InvalidClaim("jti")
    return VerifiedAssertion(client_id, jti, exp)
