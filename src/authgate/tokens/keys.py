"""Typed signing keys, each bound to exactly one JWS algorithm.

RFC 8725 §3.1: the algorithm comes from the key, never from the token header.
A key is never raw bytes, a PEM or a JWK dict passed to a generic "decode":
loading turns material into one of these classes, and refuses what is unsafe
(RFC 7518 §3.2: HMAC keys at least the hash size; RSA at least 2048 bits;
RFC 8725 §3.5: no human-chosen secrets, none from public secret lists).
"""

from __future__ import annotations

from authgate.tokens._jwkset import MAX_KEYS, load_jwk_set
from authgate.tokens._keyrules import (
    ASYMMETRIC_ALGORITHMS,
    HMAC_ALGORITHMS,
    MIN_RSA_BITS,
    SUPPORTED_ALGORITHMS,
    thumbprint,
)
from authgate.tokens._keytypes import ECKey, EdDSAKey, HMACKey, Key, RSAKey
from authgate.tokens._loading import generate_key, hmac_key, load_jwk, load_pem

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "MAX_KEYS",
    "MIN_RSA_BITS",
    "SUPPORTED_ALGORITHMS",
    "ECKey",
    "EdDSAKey",
    "HMACKey",
    "Key",
    "RSAKey",
    "generate_key",
    "hmac_key",
    "load_jwk",
    "load_jwk_set",
    "load_pem",
    "thumbprint",
]
