"""The token engine: keys, key ring, strict JWS/JWT codec, verified-token cache.

This layer imports no FastAPI, SQLAlchemy or Redis (a test enforces it).
"""

from authgate.tokens._encoding import loads_object
from authgate.tokens.cache import VerifiedTokenCache
from authgate.tokens.claims import ACCESS_TOKEN_TYPE, VerifiedToken
from authgate.tokens.codec import (
    MAX_TOKEN_LENGTH,
    RevocationCheck,
    TokenCodec,
    decode_unverified,
)
from authgate.tokens.keyring import KeyRing, KeyState, ManagedKey
from authgate.tokens.keys import (
    SUPPORTED_ALGORITHMS,
    ECKey,
    EdDSAKey,
    HMACKey,
    Key,
    RSAKey,
    generate_key,
    hmac_key,
    load_jwk,
    load_pem,
)
from authgate.tokens.verifier import AccessTokenVerifier

__all__ = [
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
]
