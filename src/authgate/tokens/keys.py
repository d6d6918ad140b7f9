"""Typed signing keys, each bound to exactly one JWS algorithm.

RFC 8725 §3.1: the algorithm comes from the key, never from the token header.
A key is never raw bytes, a PEM or a JWK dict passed to a generic "decode":
loading turns material into one of these classes, and refuses what is unsafe
(RFC 7518 §3.2: HMAC keys at least the hash size; RSA at least 2048 bits;
RFC 8725 §3.5: no human-chosen secrets, none from public secret lists).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from authgate.errors import MalformedToken, UnsafeKey
from authgate.tokens._encoding import b64url_decode, b64url_encode, dumps

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "ECKey",
    "EdDSAKey",
    "HMACKey",
    "Key",
    "RSAKey",
    "generate_key",
    "hmac_key",
    "load_jwk",
    "load_pem",
    "thumbprint",
]

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "RS256", "PS256")
SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS + HMAC_ALGORITHMS
MIN_RSA_BITS = 2048
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104 §2
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _b64(n: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (n.bit_length() + 7) // 8)
    return b64url_encode(n.to_bytes(size, "big")).decode()


def _b64int(value: Any, member: str) -> int:
    return int.from_bytes(_jwk_bytes(value, member), "big")


def _jwk_bytes(value: Any, member: str) -> bytes:
    if not isinstance(value, str):
        raise UnsafeKey(f"JWK member {member!r} must be a base64url string")
    try:
        return b64url_decode(value.encode("ascii"))
    except (MalformedToken, UnicodeEncodeError) as exc:
        raise UnsafeKey(f"JWK member {member!r} is not base64url") from exc


def thumbprint(required: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) over the required members, sorted."""
    canonical = dumps({k: required[k] for k in sorted(required)})
    return b64url_encode(hashlib.sha256(canonical).digest()).decode()


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
        if secret in _weak_secrets():
            raise UnsafeKey("this secret is on a public list of leaked JWT secrets")
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
    """Ed25519 (RFC 8037)."""

    alg = "EdDSA"

    def __init__(
        self,
        key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey,
        kid: str | None = None,
    ) -> None:
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


# ROCA (CVE-2017-15361, Nemec et al., CCS 2017): moduli from the flawed Infineon
# generator are 65537^a mod M for a primorial M, so n mod p lies in the subgroup
# generated by 65537 for every small prime p. A random modulus almost never does.
_ROCA_PRIMES: tuple[int, ...] = tuple(
    p for p in range(3, 168) if all(p % q for q in range(2, int(p**0.5) + 1))
)  # the 38 odd primes up to 167


def _subgroup(g: int, p: int) -> frozenset[int]:
    seen, x = set(), 1
    while x not in seen:
        seen.add(x)
        x = x * g % p
    return frozenset(seen)


_ROCA_SUBGROUPS = tuple((p, _subgroup(65537 % p, p)) for p in _ROCA_PRIMES)


def _roca_fingerprint(n: int) -> bool:
    return all(n % p in group for p, group in _ROCA_SUBGROUPS)


# RFC 7517 §4.3: operations a verification (or signing) key may declare.
_SIGNING_OPS = frozenset({"sign", "verify"})


def _check_key_ops(jwk: Mapping[str, Any]) -> None:
    ops = jwk.get("key_ops")
    if ops is None:
        return
    if type(ops) is not list or not ops or any(type(op) is not str for op in ops):
        raise UnsafeKey("JWK key_ops must be a non-empty list of strings")
    if not set(ops) <= _SIGNING_OPS:
        raise UnsafeKey(f"JWK key_ops {ops!r} is not limited to sign/verify (RFC 7517 §4.3)")


@functools.cache
def _weak_secrets() -> frozenset[bytes]:
    # Entries of at least 32 bytes from wallarm/jwt-secrets (MIT, see the LICENSE
    # beside the file); shorter ones are already refused by RFC 7518 §3.2 length.
    text = resources.files("authgate.tokens").joinpath("data/weak_secrets.txt").read_bytes()
    # The file keeps upstream's CRLF line ends: a "\r" left on each entry would
    # make every lookup miss.
    return frozenset(line.rstrip(b"\r") for line in text.split(b"\n") if line.rstrip(b"\r"))


def hmac_key(secret: bytes | str, alg: str = "HS256", kid: str | None = None) -> HMACKey:
    """An HMAC key from a secret; refuses short and publicly known secrets."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    return HMACKey(raw, alg, kid)


def generate_key(alg: str = "EdDSA") -> Key:
    """A fresh key for ``alg`` from the OS CSPRNG."""
    import secrets

    if alg == "EdDSA":
        return EdDSAKey(ed25519.Ed25519PrivateKey.generate())
    if alg == "ES256":
        return ECKey(ec.generate_private_key(ec.SECP256R1()))
    if alg in ("RS256", "PS256"):
        return RSAKey(rsa.generate_private_key(public_exponent=65537, key_size=3072), alg)
    if alg in HMAC_ALGORITHMS:
        return HMACKey(secrets.token_bytes(hashlib.new(HMACKey._HASHES[alg]).digest_size), alg)
    raise UnsafeKey(f"unsupported algorithm {alg!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}")


def _wrap(key: Any, alg: str | None, kid: str | None) -> Key:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        if alg not in (None, "EdDSA"):
            raise UnsafeKey(f"an Ed25519 key cannot be used with {alg}")
        return EdDSAKey(key, kid)
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
