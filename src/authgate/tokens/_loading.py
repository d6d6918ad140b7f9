"""Turning key material into typed keys: generate, PEM, JWK, raw secret."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authgate.errors import UnsafeKey
from authgate.tokens._keyrules import (
    ED25519_ALGORITHMS,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    _b64int,
    _check_key_ops,
    _jwk_bytes,
)
from authgate.tokens._keytypes import ECKey, EdDSAKey, HMACKey, Key, RSAKey

__all__ = ["generate_key", "hmac_key", "load_jwk", "load_pem"]


def hmac_key(secret: bytes | str, alg: str = "HS256", kid: str | None = None) -> HMACKey:
    """An HMAC key from a secret; refuses short and publicly known secrets."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    return HMACKey(raw, alg, kid)


def generate_key(alg: str = "EdDSA") -> Key:
    """A fresh key for ``alg`` from the OS CSPRNG."""

    if alg in ED25519_ALGORITHMS:
        return EdDSAKey(ed25519.Ed25519PrivateKey.generate(), alg=alg)
    if alg == "ES256":
        return ECKey(ec.generate_private_key(ec.SECP256R1()))
    if alg in ("RS256", "PS256"):
        return RSAKey(rsa.generate_private_key(public_exponent=65537, key_size=3072), alg)
    if alg in HMAC_ALGORITHMS:
        return HMACKey(secrets.token_bytes(hashlib.new(HMACKey._HASHES[alg]).digest_size), alg)
    raise UnsafeKey(f"unsupported algorithm {alg!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}")


def _wrap(key: Any, alg: str | None, kid: str | None) -> Key:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        if alg is not None and alg not in ED25519_ALGORITHMS:
            raise UnsafeKey(f"an Ed25519 key cannot be used with {alg}")
        return EdDSAKey(key, kid, alg or "EdDSA")
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if alg not in (None, "ES256"):
            raise UnsafeKey(f"an EC key cannot be used with {alg}")
        return ECKey(key, kid)
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if alg not in (None, "RS256", "PS256"):
            raise UnsafeKey(f"an RSA key cannot be used with {alg}")
        return RSAKey(key, alg or "RS256", kid)
    raise UnsafeKey(f"unsupported key type {type(key).__name__}")


def load_pem(data: bytes | str, *, alg: str | None = None, password: bytes | None = None) -> Key:
    """Load a PEM private key (PKCS#8 or traditional) or public key (SPKI).

    Raises:
        UnsafeKey: not a PEM key, an unsupported or weak key, or ``alg`` mismatch.
    """
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if alg in HMAC_ALGORITHMS:
        raise UnsafeKey("HMAC keys are secrets, not PEM keys")
    try:
        if b"PRIVATE KEY" in raw:
            key: Any = serialization.load_pem_private_key(raw, password=password)
        else:
            key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise UnsafeKey(f"not a usable PEM key: {exc}") from exc
    return _wrap(key, alg, None)


def load_jwk(jwk: Mapping[str, Any], *, alg: str | None = None) -> Key:
    """Load a JWK (RFC 7517/7518/8037). ``alg`` in the JWK, if any, must match.

    Raises:
        UnsafeKey: malformed, unsupported, weak, or not for signatures.
    """
    if not isinstance(jwk, Mapping):
        raise UnsafeKey("a JWK must be a JSON object")
    kty = jwk.get("kty")
    jwk_alg = jwk.get("alg")
    if jwk_alg is not None and alg is not None and jwk_alg != alg:
        raise UnsafeKey(f"JWK is for {jwk_alg}, not {alg}")
    alg = alg or jwk_alg
    if alg is not None and alg not in SUPPORTED_ALGORITHMS:
        raise UnsafeKey(f"unsupported algorithm {alg!r}")
    if jwk.get("use", "sig") != "sig":
        raise UnsafeKey("JWK is not a signing key (use != sig)")
    _check_key_ops(jwk)
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > 256):
        raise UnsafeKey("JWK kid must be a non-empty string")
    try:
        if kty == "oct":
            return HMACKey(_jwk_bytes(jwk.get("k"), "k"), alg or "HS256", kid)
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise UnsafeKey("only the Ed25519 OKP curve is supported")
            if "d" in jwk:
                okp: Any = ed25519.Ed25519PrivateKey.from_private_bytes(_jwk_bytes(jwk["d"], "d"))
                if okp.public_key().public_bytes_raw() != _jwk_bytes(jwk.get("x"), "x"):
                    raise UnsafeKey("JWK x does not match d")
            else:
                okp = ed25519.Ed25519PublicKey.from_public_bytes(_jwk_bytes(jwk.get("x"), "x"))
            return _wrap(okp, alg, kid)
        if kty == "EC":
            if jwk.get("crv") != "P-256":
                raise UnsafeKey("only the P-256 EC curve is supported")
            x, y = _jwk_bytes(jwk.get("x"), "x"), _jwk_bytes(jwk.get("y"), "y")
            if len(x) != 32 or len(y) != 32:
                raise UnsafeKey("P-256 coordinates must be 32 bytes")
            pub = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            )
            if "d" in jwk:
                priv = ec.EllipticCurvePrivateNumbers(_b64int(jwk["d"], "d"), pub)
                return _wrap(priv.private_key(), alg, kid)
            return _wrap(pub.public_key(), alg, kid)
        if kty == "RSA":
            rpub = rsa.RSAPublicNumbers(_b64int(jwk.get("e"), "e"), _b64int(jwk.get("n"), "n"))
            if "d" in jwk:
                names = ("p", "q", "dp", "dq", "qi")
                if any(m not in jwk for m in names):
                    raise UnsafeKey("an RSA private JWK needs p, q, dp, dq and qi")
                p, q, dp, dq, qi = (_b64int(jwk[m], m) for m in names)
                rpriv = rsa.RSAPrivateNumbers(p, q, _b64int(jwk["d"], "d"), dp, dq, qi, rpub)
                return _wrap(rpriv.private_key(), alg, kid)
            return _wrap(rpub.public_key(), alg, kid)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise UnsafeKey(f"invalid {kty} JWK: {exc}") from exc
    raise UnsafeKey(f"unsupported JWK kty {kty!r}")
