"""The key classes, each bound to exactly one JWS algorithm (RFC 8725 §3.1)."""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from authgate.errors import UnsafeKey
from authgate.tokens._encoding import b64url_encode
from authgate.tokens._keyrules import (
    _IPAD,
    _OPAD,
    _P256_ORDER,
    _PRIVATE_MEMBERS,
    ED25519_ALGORITHMS,
    MIN_RSA_BITS,
    _b64,
    _roca_fingerprint,
    check_hmac_secret,
    thumbprint,
)

__all__ = ["ECKey", "EdDSAKey", "HMACKey", "Key", "RSAKey"]


class Key(ABC):
    """A key bound to one algorithm. ``kid`` is its RFC 7638 thumbprint unless given."""

    alg: str
    kid: str
    symmetric: ClassVar[bool] = False

    @property
    @abstractmethod
    def has_private(self) -> bool: ...

    @abstractmethod
    def sign(self, data: bytes) -> bytes:
        """Sign ``data``. Raises UnsafeKey for a verify-only key."""

    @abstractmethod
    def verify(self, data: bytes, signature: bytes) -> bool:
        """True only for a valid signature; never raises for bad input."""

    @abstractmethod
    def _required_members(self) -> dict[str, str]: ...

    @abstractmethod
    def _private_members(self) -> dict[str, str]: ...

    def accepts(self, alg: str) -> bool:
        """Whether a token header's ``alg`` names this key's one algorithm.

        RFC 8725 §3.1: the key decides; the header only has to agree with it.
        """
        return alg == self.alg

    def public_jwk(self) -> dict[str, str]:
        """The public JWK (RFC 7517): never a private member. Empty for HMAC keys."""
        if self.symmetric:
            raise UnsafeKey("an HMAC key has no public form")
        jwk = dict(self._required_members())
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        assert not (_PRIVATE_MEMBERS & jwk.keys())
        return jwk

    def private_jwk(self) -> dict[str, str]:
        """The full JWK, private members included, for storage (never to publish)."""
        if not self.has_private:
            raise UnsafeKey("this key has no private part")
        jwk = dict(self._required_members())
        jwk.update(self._private_members())
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, for storage (never to publish)."""
        private: Any = getattr(self, "_private", None)
        if self.symmetric or private is None:
            raise UnsafeKey("only an asymmetric key with its private part has a private PEM")
        pem: bytes = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM. HMAC keys have none."""
        if self.symmetric:
            raise UnsafeKey("an HMAC key has no public form")
        public: Any = getattr(self, "_public")  # noqa: B009 - set by every asymmetric subclass
        pem: bytes = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def __repr__(self) -> str:  # never print key material
        return f"<{type(self).__name__} alg={self.alg} kid={self.kid}>"


class HMACKey(Key):
    symmetric = True
    _HASHES: ClassVar[dict[str, str]] = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}

    def __init__(self, secret: bytes, alg: str = "HS256", kid: str | None = None) -> None:
        if alg not in self._HASHES:
            raise UnsafeKey(f"{alg} is not an HMAC algorithm")
        size = hashlib.new(self._HASHES[alg]).digest_size
        if len(secret) < size:
            # RFC 7518 §3.2: a key of the same size as the hash output or larger MUST be used.
            raise UnsafeKey(f"{alg} needs a secret of at least {size} bytes, got {len(secret)}")
        check_hmac_secret(secret)  # RFC 8725 §3.5: listed, placeholder, not random
        self.alg = alg
        self._secret = secret
        self._digest = self._HASHES[alg]
        # RFC 2104 with the keyed inner and outer hash states computed once: a
        # token then costs two state copies instead of re-keying HMAC (about 2x
        # faster). Checked against hmac.digest by the Wycheproof HMAC vectors.
        new_hash = getattr(hashlib, self._digest)
        block = new_hash().block_size
        padded = (secret if len(secret) <= block else new_hash(secret).digest()).ljust(block, b"\0")
        self._inner: hashlib._Hash = new_hash(padded.translate(_IPAD))
        self._outer: hashlib._Hash = new_hash(padded.translate(_OPAD))
        self.kid = kid or thumbprint(self._required_members())

    @property
    def has_private(self) -> bool:
        return True

    def sign(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def verify(self, data: bytes, signature: bytes) -> bool:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        # RFC 7518 §3.2: the comparison MUST be constant-time.
        return hmac.compare_digest(outer.digest(), signature)

    def _required_members(self) -> dict[str, str]:
        return {"k": b64url_encode(self._secret).decode(), "kty": "oct"}

    def _private_members(self) -> dict[str, str]:
        return {}


class EdDSAKey(Key):
    """Ed25519 (RFC 8037), signing under ``alg`` "EdDSA" (the default) or "Ed25519".

    RFC 9864 §2 names the algorithm "Ed25519"; "EdDSA" is the older polymorphic
    name, which with an Ed25519 key means exactly the same routine. So the key
    accepts a header with either name, and nothing else; no other key accepts
    "Ed25519" (RFC 8725 §3.1: the algorithm comes from the key).
    """

    alg = "EdDSA"

    def __init__(
        self,
        key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey,
        kid: str | None = None,
        alg: str = "EdDSA",
    ) -> None:
        if alg not in ED25519_ALGORITHMS:
            raise UnsafeKey(f"{alg} is not an Ed25519 algorithm")
        self.alg = alg
        if isinstance(key, ed25519.Ed25519PrivateKey):
            self._private: ed25519.Ed25519PrivateKey | None = key
            self._public = key.public_key()
        else:
            self._private = None
            self._public = key
        self.kid = kid or thumbprint(self._required_members())

    @property
    def has_private(self) -> bool:
        return self._private is not None

    def accepts(self, alg: str) -> bool:
        return alg in ED25519_ALGORITHMS

    def sign(self, data: bytes) -> bytes:
        if self._private is None:
            raise UnsafeKey("verify-only key")
        return self._private.sign(data)

    def verify(self, data: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self._public.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def _required_members(self) -> dict[str, str]:
        raw = self._public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw).decode()}

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None
        raw = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return {"d": b64url_encode(raw).decode()}


class ECKey(Key):
    """ECDSA P-256 with SHA-256 (RFC 7518 §3.4): signatures are raw r‖s, 64 bytes."""

    alg = "ES256"

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey,
        kid: str | None = None,
    ) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise UnsafeKey("ES256 needs a P-256 key")
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._private: ec.EllipticCurvePrivateKey | None = key
            self._public = key.public_key()
        else:
            self._private = None
            self._public = key
        self._ecdsa = ec.ECDSA(hashes.SHA256())
        self.kid = kid or thumbprint(self._required_members())

    @property
    def has_private(self) -> bool:
        return self._private is not None

    def sign(self, data: bytes) -> bytes:
        if self._private is None:
            raise UnsafeKey("verify-only key")
        r, s = decode_dss_signature(self._private.sign(data, self._ecdsa))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, data: bytes, signature: bytes) -> bool:
        # RFC 7518 §3.4: exactly 64 bytes; CVE-2022-21449: r and s in [1, n-1].
        if len(signature) != 64:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
            return False
        try:
            self._public.verify(encode_dss_signature(r, s), data, self._ecdsa)
        except InvalidSignature:
            return False
        return True

    def _required_members(self) -> dict[str, str]:
        nums = self._public.public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": _b64(nums.x, 32), "y": _b64(nums.y, 32)}

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None
        return {"d": _b64(self._private.private_numbers().private_value, 32)}


class RSAKey(Key):
    """RS256 (PKCS#1 v1.5) or PS256 (PSS, salt = hash length, RFC 7518 §3.5)."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey | rsa.RSAPublicKey,
        alg: str = "RS256",
        kid: str | None = None,
    ) -> None:
        if alg not in ("RS256", "PS256"):
            raise UnsafeKey(f"{alg} is not an RSA algorithm authgate supports")
        self.alg = alg
        self.kid = kid or "(unchecked)"  # repr() works even if a check below refuses
        if key.key_size < MIN_RSA_BITS:
            raise UnsafeKey(f"RSA keys need at least {MIN_RSA_BITS} bits, got {key.key_size}")
        if isinstance(key, rsa.RSAPrivateKey):
            self._private: rsa.RSAPrivateKey | None = key
            self._public = key.public_key()
        else:
            self._private = None
            self._public = key
        e = self._public.public_numbers().e
        if e < 65537 or e % 2 == 0:
            raise UnsafeKey("RSA public exponent must be odd and at least 65537")
        if _roca_fingerprint(self._public.public_numbers().n):
            raise UnsafeKey("RSA modulus has the ROCA fingerprint (CVE-2017-15361)")
        self.alg = alg
        self._size = (key.key_size + 7) // 8
        self._padding: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg == "RS256"
            else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        )
        self._hash = hashes.SHA256()
        self.kid = kid or thumbprint(self._required_members())

    @property
    def has_private(self) -> bool:
        return self._private is not None

    def sign(self, data: bytes) -> bytes:
        if self._private is None:
            raise UnsafeKey("verify-only key")
        return self._private.sign(data, self._padding, self._hash)

    def verify(self, data: bytes, signature: bytes) -> bool:
        if len(signature) != self._size:
            return False
        try:
            self._public.verify(signature, data, self._padding, self._hash)
        except InvalidSignature:
            return False
        return True

    def _required_members(self) -> dict[str, str]:
        nums = self._public.public_numbers()
        return {"e": _b64(nums.e), "kty": "RSA", "n": _b64(nums.n)}

    def _private_members(self) -> dict[str, str]:
        assert self._private is not None
        p = self._private.private_numbers()
        return {
            "d": _b64(p.d),
            "p": _b64(p.p),
            "q": _b64(p.q),
            "dp": _b64(p.dmp1),
            "dq": _b64(p.dmq1),
            "qi": _b64(p.iqmp),
        }
