"""Turn a fetched JWK Set into verify-only keys, or refuse it whole.

A JWK Set from the network is untrusted input. It is refused (JWKSError, and
the last good set stays in use) when:

- it is not ``{"keys": [...]}`` with 1 to ``MAX_KEYS`` objects (RFC 7517 §5);
- a key carries a private member (``d p q dp dq qi oth k``): a publisher that
  leaks private keys is broken, and SECURITY.md A.6 #43 forbids them;
- a key is symmetric (``kty: oct``): an HMAC secret is never published, and a
  verifier must not mix symmetric and asymmetric keys (RFC 8725 §3.1);
- a key has an unsupported ``kty``/``crv``/``alg``, ``use`` other than ``sig``,
  ``key_ops`` without ``verify``, or no ``kid``; or two keys share a ``kid``.

``alg`` (RFC 8725 §3.1: the algorithm comes from the key): required, except
where the key admits exactly one algorithm authgate supports: an Ed25519 key is
inferred as EdDSA and a P-256 key as ES256. An RSA key without ``alg`` is
refused, since RS256 and PS256 are both possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authgate.errors import JWKSError, UnsafeKey
from authgate.tokens.keys import ASYMMETRIC_ALGORITHMS, Key, load_jwk
from authgate.verifier._http import FetchLimits, fetch_json, new_client
from authgate.verifier._urls import check_fetch_url

__all__ = ["MAX_KEYS", "fetch_jwks", "parse_jwks"]

MAX_KEYS = 32
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_INFERRED_ALG: dict[tuple[object, object], str] = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
}


def _key_alg(jwk: Mapping[str, Any], where: str) -> str:
    alg = jwk.get("alg")
    if alg is None:
        inferred = _INFERRED_ALG.get((jwk.get("kty"), jwk.get("crv")))
        if inferred is None:
            raise JWKSError(f"{where}: no alg, and none can be inferred (RFC 8725 §3.1)")
        return inferred
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise JWKSError(f"{where}: unsupported alg {str(alg)[:32]!r}")
    return str(alg)


def _load(jwk: object, index: int) -> Key:
    where = f"key #{index}"
    if not isinstance(jwk, dict):
        raise JWKSError(f"{where}: not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise JWKSError(f"{where}: kid must be a non-empty string of at most 256 characters")
    where = f"key {kid[:64]!r}"
    private = _PRIVATE_MEMBERS & jwk.keys()
    if private:
        members = ", ".join(sorted(private))
        raise JWKSError(f"{where}: private or symmetric member present ({members})")
    kty = jwk.get("kty")
    if kty == "oct":
        raise JWKSError(f"{where}: symmetric (oct) keys are never accepted from a JWKS")
    if kty not in ("OKP", "EC", "RSA"):
        raise JWKSError(f"{where}: unsupported kty {str(kty)[:32]!r}")
    if "use" in jwk and jwk["use"] != "sig":
        raise JWKSError(f"{where}: use must be sig")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise JWKSError(f"{where}: key_ops does not allow verify")
    alg = _key_alg(jwk, where)
    try:
        return load_jwk(jwk, alg=alg)
    except UnsafeKey as exc:
        raise JWKSError(f"{where}: {exc.message}") from exc


def parse_jwks(document: Mapping[str, Any]) -> list[Key]:
    """Validate a JWK Set and return its keys, verify-only.

    Raises:
        JWKSError: any rule in the module docstring is broken.
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise JWKSError('a JWK Set needs a "keys" array (RFC 7517 §5)')
    if not keys:
        raise JWKSError("the JWK Set is empty")
    if len(keys) > MAX_KEYS:
        raise JWKSError(f"the JWK Set has more than {MAX_KEYS} keys")
    loaded: dict[str, Key] = {}
    for index, jwk in enumerate(keys):
        key = _load(jwk, index)
        if key.kid in loaded:
            raise JWKSError(f"duplicate kid {key.kid[:64]!r}")
        loaded[key.kid] = key
    return list(loaded.values())


async def fetch_jwks(url: str, *, limits: FetchLimits | None = None) -> list[Key]:
    """Fetch a JWK Set once, under the rules the verifier itself fetches by: the URL
    policy of :mod:`authgate.verifier._urls` (https, or http only to loopback), the
    caps of :mod:`authgate.verifier._http` (time, size, no redirect, JSON only) and
    the JWK Set rules above. For one-off checks (``authgate token verify --jwks
    URL``); a service keeps its keys fresh with :class:`JWKSVerifier`.

    Raises:
        ConfigError: the URL is refused.
        JWKSError: the fetch failed, or the JWK Set is refused.
    """
    check_fetch_url(url, what="the JWK Set URL")
    limits = limits or FetchLimits()
    async with new_client(limits) as client:
        fetched = await fetch_json(client, url, limits)
    return parse_jwks(fetched.document)
