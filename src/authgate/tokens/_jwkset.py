"""Read a JWK Set (RFC 7517 §5): keep the signing keys authgate understands, ignore
the rest, and refuse the whole set only where one key makes every key suspect.

RFC 7517 §5: "Implementations SHOULD ignore JWKs within a JWK Set that use 'kty'
values that are not understood by them, that are missing required members, or for
which values are out of the supported ranges." An identity provider may publish
encryption keys (``use: enc``, ``RSA-OAEP``), X25519 or P-521 keys, or algorithms
added after this release next to the key that signs our tokens; refusing the set
for them would lock a verifier out of keys it does understand. So a key is
**ignored** (logged at DEBUG, never used, so never trusted) when it is not for
verifying signatures (``use`` other than ``sig``, ``key_ops`` without ``verify``,
RFC 7517 §4.2-4.3), its ``kty``/``crv``/``alg`` is not one authgate implements,
its ``alg`` does not fit the key, it has no ``alg`` and none follows from the key
(an RSA key could be RS256 or PS256: RFC 8725 §3.1 binds one algorithm to a key,
so authgate never guesses), it lacks a usable ``kid`` (RFC 7517 §4.5; in a local
file a key without one is named by its RFC 7638 thumbprint), or its material is
out of range (short or ROCA RSA moduli, a point not on the curve).

The **whole set** is refused when:

- it is not ``{"keys": [...]}`` with 1 to ``MAX_KEYS`` entries, or an entry is not
  a JSON object: not a JWK Set at all (RFC 7517 §5);
- ``public_only`` and any key, ignored or not, carries a private member
  (``d p q dp dq qi oth``) or is symmetric (``kty: oct``, member ``k``): a publisher
  that puts secrets in a public document has leaked them, so none of its keys can
  be trusted (RFC 7517 §9.2-9.3, RFC 8725 §3.1, SECURITY.md A.6 #43). A local key
  file (``public_only=False``) may hold the owner's private or HMAC keys;
- two keys of a kind authgate implements (signature keys of a supported ``kty``,
  ``crv`` and ``alg``, even if one's material is then out of range) share a
  ``kid``: the ``kid`` no longer names one key and the choice would depend on the
  order in the document (RFC 7517 §4.5: distinct kids within a set). A key that is
  not for us (``use: enc``, another ``kty`` or ``alg``) never takes part in the
  lookup, and RFC 7517 §4.5 lets keys of different types share a ``kid``;
- no key is usable: the error lists why each was ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from authgate.errors import UnsafeKey
from authgate.tokens._keyrules import (
    _PRIVATE_MEMBERS,
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
)
from authgate.tokens._keytypes import Key
from authgate.tokens._loading import load_jwk

__all__ = ["MAX_KEYS", "load_jwk_set"]

log = logging.getLogger("authgate.tokens")

MAX_KEYS = 32
_KTYS = frozenset({"OKP", "EC", "RSA", "oct"})
#: RFC 8725 §3.1: ``alg`` may be left out only where the key admits exactly one
#: algorithm authgate implements.
_INFERRED_ALG: dict[tuple[object, object], str] = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
}


class _Ignored(Exception):
    """A key this verifier does not understand (RFC 7517 §5): skipped, not fatal."""


def _alg(jwk: Mapping[str, Any]) -> str:
    alg = jwk.get("alg")
    if alg is None:
        if jwk.get("kty") == "oct":
            return "HS256"
        inferred = _INFERRED_ALG.get((jwk.get("kty"), jwk.get("crv")))
        if inferred is None:
            raise _Ignored("no alg, and none follows from the key (RFC 8725 §3.1)")
        return inferred
    allowed = HMAC_ALGORITHMS if jwk.get("kty") == "oct" else ASYMMETRIC_ALGORITHMS
    if alg not in allowed:
        raise _Ignored(f"unsupported alg {str(alg)[:32]!r}")
    return str(alg)


def _load(jwk: Mapping[str, Any], public_only: bool, claimed: set[str]) -> Key:
    if public_only:
        secret = _PRIVATE_MEMBERS & jwk.keys()
        if secret or jwk.get("kty") == "oct":
            detail = ", ".join(sorted(secret)) or "kty oct"
            raise UnsafeKey(
                f"private or symmetric member present ({detail}): a public JWK Set "
                "never carries secrets"
            )
    kid = jwk.get("kid")
    if (public_only or kid is not None) and (not isinstance(kid, str) or not kid or len(kid) > 256):
        raise _Ignored("kid must be a non-empty string of at most 256 characters")
    kty = jwk.get("kty")
    if kty not in _KTYS:
        raise _Ignored(f"unsupported kty {str(kty)[:32]!r}")
    if "use" in jwk and jwk["use"] != "sig":
        raise _Ignored(f"use is {str(jwk['use'])[:32]!r}, not sig")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise _Ignored("key_ops does not allow verify")
    alg = _alg(jwk)
    # A key of a kind authgate implements claims its kid even if its material then
    # fails to load: the publisher meant it for verification, so the kid is ambiguous.
    if kid in claimed:
        raise UnsafeKey(f"duplicate kid {str(kid)[:64]!r} (RFC 7517 §4.5)")
    if isinstance(kid, str):
        claimed.add(kid)
    try:
        return load_jwk(jwk, alg=alg)
    except UnsafeKey as exc:
        raise _Ignored(exc.message) from exc


def load_jwk_set(document: object, *, public_only: bool) -> list[Key]:
    """The usable signing keys of a JWK Set, in document order.

    Args:
        document: the parsed JSON document.
        public_only: refuse private and symmetric keys (a set fetched from an
            issuer); False for a local key file, which may hold them.

    Raises:
        UnsafeKey: the whole set is refused (see the module docstring).
    """
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if type(keys) is not list:
        raise UnsafeKey('a JWK Set needs a "keys" array (RFC 7517 §5)')
    if not keys:
        raise UnsafeKey("the JWK Set is empty")
    if len(keys) > MAX_KEYS:
        raise UnsafeKey(f"the JWK Set has more than {MAX_KEYS} keys")
    loaded: dict[str, Key] = {}
    claimed: set[str] = set()
    ignored: list[str] = []
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, dict):
            raise UnsafeKey(f"key #{index}: not a JSON object")
        kid = jwk.get("kid")
        where = f"key {kid[:64]!r}" if isinstance(kid, str) and kid else f"key #{index}"
        try:
            key = _load(jwk, public_only, claimed)
        except _Ignored as why:
            log.debug("JWK Set: %s ignored: %s", where, why)
            ignored.append(f"{where}: {why}")
            continue
        except UnsafeKey as exc:
            if exc.message.startswith("duplicate"):
                raise
            raise UnsafeKey(f"{where}: {exc.message}") from exc
        if key.kid in loaded:
            raise UnsafeKey(f"duplicate kid {key.kid[:64]!r} (RFC 7517 §4.5)")
        loaded[key.kid] = key
    if not loaded:
        raise UnsafeKey("no usable signing key in the JWK Set (" + "; ".join(ignored) + ")")
    return list(loaded.values())
