"""Encode and verify compact JWS JWTs, strictly and fast.

Verification order (RFC 7515 §5.2, RFC 7519 §7.2, RFC 8725 §3):

1. shape: a ``str`` under the size cap, exactly three canonical base64url segments;
   five segments (JWE) and JSON serialization are refused;
2. header: a strict JSON object; ``alg`` "none" in any spelling, ``jwk``/``jku``/
   ``x5u``/``x5c`` (key material from the token, RFC 8725 §3.10), ``crit``
   (RFC 7515 §4.1.11: we understand no extension), ``b64`` (RFC 7797), ``cty``
   (nested JWTs) and ``zip``/``enc`` (JWE) are refused;
3. key: ``kid`` is an exact dict lookup in the ring; ``alg`` must name the key's
   one algorithm (RFC 8725 §3.1) — the header never picks the routine (an
   Ed25519 key answers to "EdDSA" and to RFC 9864's "Ed25519", no other key does);
4. signature, before any claim is read (RFC 7519 §7.2);
5. ``typ`` (RFC 8725 §3.11–3.12), then claims (:mod:`authgate.tokens.claims`);
6. revocation, through a hook the service layer fills in, on cold and cached paths.

With a cache, a token whose signature verified and which step 5 or 6 found expired
or revoked is remembered as such (:mod:`authgate.tokens.cache`): the next
verification of that exact string is refused by a lookup.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from authgate.clock import Clock, SystemClock
from authgate.errors import (
    BadSignature,
    ConfigError,
    Expired,
    MalformedToken,
    Revoked,
    UnknownKey,
    UnsupportedToken,
    WrongTokenType,
)
from authgate.tokens._encoding import b64url_decode, b64url_encode, dumps, loads_object
from authgate.tokens.cache import VerifiedTokenCache
from authgate.tokens.claims import (
    ACCESS_TOKEN_TYPE,
    MAX_LEEWAY,
    VerifiedToken,
    check_claims,
    normalize_typ,
)
from authgate.tokens.keyring import KeyRing
from authgate.tokens.keys import Key

__all__ = [
    "DEFAULT_MAX_TOKEN_SIZE",
    "MAX_TOKEN_LENGTH",
    "RevocationCheck",
    "TokenCodec",
    "decode_unverified",
    "split_compact",
]

DEFAULT_MAX_TOKEN_SIZE = 8192
#: The longest token (an access JWT or an opaque refresh token) the endpoints and the
#: service read at all: longer is refused, or answered as unknown (RFC 7009 §2.2,
#: RFC 7662 §2.2), before any lookup. The codec's own cap above is tighter.
MAX_TOKEN_LENGTH = 16_384
_REFUSED_HEADER = frozenset(
    {"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit", "b64", "cty", "zip", "enc"}
)


_HEADER_CACHE_SIZE = 64


def split_compact(token: str, max_size: int = DEFAULT_MAX_TOKEN_SIZE) -> tuple[bytes, bytes, bytes]:
    """Step 1 of the verification order: the three segments of a compact JWS, as
    ASCII bytes, none empty (RFC 7515 §7.1). Nothing is decoded yet.

    Raises:
        MalformedToken: not a string, over ``max_size``, not ASCII, or not three
            non-empty segments.
        UnsupportedToken: a JWE (five segments) or the JSON serialization.
    """
    if type(token) is not str:
        raise MalformedToken("a token must be a string")
    if len(token) > max_size:
        raise MalformedToken("token is larger than the size cap")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedToken("token contains non-ASCII characters") from exc
    parts = raw.split(b".")
    if len(parts) != 3:
        if raw.startswith(b"{"):
            raise UnsupportedToken("JSON serialization is not accepted; compact only")
        if len(parts) == 5:
            raise UnsupportedToken("JWE is not accepted")
        raise MalformedToken("a compact JWS has exactly three segments")
    h64, p64, s64 = parts
    if not h64 or not p64 or not s64:
        raise MalformedToken("empty JWS segment")
    return h64, p64, s64


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, read with the codec's own shape and
    encoding rules (canonical base64url, strict JSON) but NOT verified: for
    inspection only (``authgate token decode``). Nothing here may be trusted or
    used for a decision (RFC 7519 §7.2: validate before use).

    Raises:
        MalformedToken: the shape or an encoding is wrong.
        UnsupportedToken: a JWE or the JSON serialization.
    """
    h64, p64, s64 = split_compact(token)
    b64url_decode(s64)  # canonical, like every segment the codec reads
    return loads_object(b64url_decode(h64)), loads_object(b64url_decode(p64))


class _Header(NamedTuple):
    """A header segment that passed every header rule."""

    params: dict[str, Any]
    alg: str
    kid: str | None
    typ: str | None


class RevocationCheck(Protocol):
    """Filled in by the service layer: a jti denylist and per-subject cut-off times.

    Must be O(1) and in memory: it runs on every verification, cached or not.
    """

    def is_revoked(self, token: VerifiedToken) -> bool: ...


class TokenCodec:
    """Signs with the ring's active key; verifies against any key in the ring.

    Args:
        keys: the key ring (HMAC or asymmetric, never both).
        issuer: the exact ``iss`` to put in and to require (RFC 9068 §4).
        audience: the ``aud`` to require (and the default to put in).
        clock: the time source; defaults to the system clock.
        leeway: tolerated clock skew in seconds, at most 60.
        max_size: tokens longer than this are refused before any parsing.
        cache: an optional verified-token cache.
        revocation: an optional revocation hook, consulted on every verification.
    """

    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        clock: Clock | None = None,
        leeway: float = 30.0,
        max_size: int = DEFAULT_MAX_TOKEN_SIZE,
        cache: VerifiedTokenCache | None = None,
        revocation: RevocationCheck | None = None,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigError(f"leeway must be between 0 and {MAX_LEEWAY:g} seconds")
        if not issuer or not audience:
            raise ConfigError("issuer and audience are required")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.clock: Clock = clock or SystemClock()
        self.leeway = float(leeway)
        self.max_size = max_size
        self.cache = cache
        self.revocation = revocation
        self._headers: dict[bytes, _Header] = {}

    # -- encoding ---------------------------------------------------------------

    def encode(self, claims: Mapping[str, Any], *, typ: str = ACCESS_TOKEN_TYPE) -> str:
        """Sign ``claims`` as a compact JWS with the active key."""
        key = self.keys.active
        header = b64url_encode(dumps({"alg": key.alg, "kid": key.kid, "typ": typ}))
        payload = b64url_encode(dumps(dict(claims)))
        signing_input = header + b"." + payload
        return (signing_input + b"." + b64url_encode(key.sign(signing_input))).decode("ascii")

    def issue(
        self,
        *,
        sub: str,
        ttl: int,
        client_id: str,
        scope: frozenset[str] | set[str] | tuple[str, ...] = frozenset(),
        sid: str | None = None,
        audience: str | None = None,
        typ: str = ACCESS_TOKEN_TYPE,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Issue a token with the RFC 9068 §2.2 claim set. Returns (token, claims)."""
        iat = int(self.clock.now())
        claims: dict[str, Any] = dict(extra or {})
        claims.update(
            iss=self.issuer,
            sub=sub,
            aud=audience or self.audience,
            exp=iat + int(ttl),
            iat=iat,
            jti=secrets.token_urlsafe(16),
            client_id=client_id,
        )
        if scope:
            claims["scope"] = " ".join(sorted(scope))
        if sid is not None:
            claims["sid"] = sid
        return self.encode(claims, typ=typ), claims

    # -- verification -----------------------------------------------------------

    def verify(self, token: str, *, typ: str = ACCESS_TOKEN_TYPE) -> VerifiedToken:
        """Verify ``token`` as a JWT of kind ``typ``.

        Raises:
            TokenError: one subclass per failure; no other exception escapes.
        """
        cache = self.cache
        if cache is not None and type(token) is str:
            hit = cache.get(token)
            if hit is not None and hit.typ == typ:
                if self.clock.now() >= hit.exp + self.leeway:
                    cache.reject(token, "expired", hit.exp + self.leeway, typ)
                    raise Expired("token has expired")
                if self.keys.get(hit.kid) is None:
                    cache.discard(token)
                    raise UnknownKey(hit.kid)
                if self.revocation is not None and self.revocation.is_revoked(hit):
                    cache.reject(token, "revoked", hit.exp + self.leeway, typ)
                    raise Revoked("token has been revoked")
                return hit
            if hit is None:
                # A signed token already found expired or revoked: final (cache.py).
                refused = cache.rejection(token)
                if refused is not None and refused.typ == typ:
                    if self.clock.now() >= refused.until:
                        raise Expired("token has expired")
                    if refused.kind == "revoked":
                        raise Revoked("token has been revoked")
                    # "expired" yet before exp + leeway: the clock went back; verify afresh.
                    cache.forget_rejection(token)
        header, payload, key = self._check(token)
        if header.typ != typ:
            raise WrongTokenType(f"expected a token of type {typ}")
        claims = loads_object(payload)
        try:
            verified = check_claims(
                claims,
                self.issuer,
                self.audience,
                self.clock.now(),
                self.leeway,
                typ,
                key.kid,
            )
        except Expired:
            # The signature verified (step 4) and exp is a NumericDate, so this is final.
            if cache is not None:
                cache.reject(token, "expired", float(claims["exp"]) + self.leeway, typ)
            raise
        if self.revocation is not None and self.revocation.is_revoked(verified):
            if cache is not None:
                cache.reject(token, "revoked", verified.exp + self.leeway, typ)
            raise Revoked("token has been revoked")
        if cache is not None:
            cache.put(token, verified)
        return verified

    def verify_for(self, token: str, audience: str) -> VerifiedToken:
        """:meth:`verify` with ``audience`` required instead of the codec's own (a
        token minted for a registered API, RFC 8707). Never cached: the cache holds
        only tokens that passed with the codec's audience.

        Raises:
            TokenError: one subclass per failure.
        """
        if audience == self.audience:
            return self.verify(token)
        header, payload, key = self._check(token)
        if header.typ != ACCESS_TOKEN_TYPE:
            raise WrongTokenType(f"expected a token of type {ACCESS_TOKEN_TYPE}")
        verified = check_claims(
            loads_object(payload),
            self.issuer,
            audience,
            self.clock.now(),
            self.leeway,
            ACCESS_TOKEN_TYPE,
            key.kid,
        )
        if self.revocation is not None and self.revocation.is_revoked(verified):
            raise Revoked("token has been revoked")
        return verified

    def _header(self, h64: bytes) -> _Header:
        """Parse and vet a header segment; the verdict is cached per exact segment.

        The segment is the whole input of every header rule, so a cached verdict
        is the verdict; only the key lookup (which depends on the ring) is redone.
        """
        cached = self._headers.get(h64)
        if cached is not None:
            return cached
        params = loads_object(b64url_decode(h64))
        alg = params.get("alg")
        if type(alg) is not str:
            raise MalformedToken("alg must be a string")
        if alg.strip().lower() == "none":
            raise UnsupportedToken('alg "none" is never accepted (RFC 8725 §3.2)')
        refused = _REFUSED_HEADER & params.keys()
        if refused:
            raise UnsupportedToken("refused header parameter: " + ", ".join(sorted(refused)))
        kid = params.get("kid")
        if kid is not None and type(kid) is not str:
            raise MalformedToken("kid must be a string")
        header = _Header(params, alg, kid, normalize_typ(params.get("typ")))
        if len(self._headers) >= _HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[h64] = header
        return header

    def _check(self, token: str) -> tuple[_Header, bytes, Key]:
        h64, p64, s64 = split_compact(token, self.max_size)
        header = self._headers.get(h64) or self._header(h64)
        # All three segments are canonical base64url before any key is looked up
        # (SECURITY.md A.1 #1); the payload's JSON is read only after the signature.
        payload = b64url_decode(p64)
        signature = b64url_decode(s64)
        kid = header.kid
        if kid is None:
            if len(self.keys) != 1:
                raise UnknownKey(None)
            key = self.keys.entries()[0].key
        else:
            found = self.keys.get(kid)
            if found is None:
                raise UnknownKey(kid[:64])
            key = found
        if header.alg != key.alg and not key.accepts(header.alg):
            raise BadSignature("alg does not match the key (RFC 8725 §3.1)")
        if not key.verify(b".".join((h64, p64)), signature):
            raise BadSignature("signature does not verify")
        return header, payload, key
