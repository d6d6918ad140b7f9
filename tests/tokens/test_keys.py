"""Keys and the key ring: generation, loading, refusal of unsafe material, the
RFC 7638 kid, the public JWKS and rotation (SECURITY.md A.2 #7, #11; A.6 #43)."""

from __future__ import annotations

import base64
import functools
import json
import math
import random
from typing import Any

import pytest
from _forge import NOW, claims, header_for, sign_raw
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import import_key as joserfc_import_key

from authgate.clock import FrozenClock
from authgate.errors import UnknownKey, UnsafeKey
from authgate.tokens import (
    SUPPORTED_ALGORITHMS,
    HMACKey,
    KeyRing,
    KeyState,
    ManagedKey,
    RSAKey,
    TokenCodec,
    generate_key,
    hmac_key,
    load_jwk,
    load_pem,
)
from authgate.tokens._encoding import b64url_encode
from authgate.tokens._keyrules import (
    MIN_DISTINCT_DECIMAL_DIGITS,
    MIN_DISTINCT_HEX_DIGITS,
    MIN_DISTINCT_SECRET_BYTES,
)
from authgate.tokens.keys import thumbprint

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_kid_is_the_rfc7638_thumbprint() -> None:
    """RFC 7638 §3.1's worked example."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert thumbprint({"e": "AQAB", "kty": "RSA", "n": n}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )
    assert load_jwk({"kty": "RSA", "n": n, "e": "AQAB"}).kid == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_kid_matches_joserfc_thumbprint(alg: str) -> None:
    key = generate_key(alg)
    jwk = key.private_jwk()
    assert key.kid == joserfc_import_key({k: v for k, v in jwk.items() if k != "kid"}).thumbprint()


@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_generated_key_round_trips_through_jwk_and_pem(alg: str) -> None:
    key = generate_key(alg)
    assert key.alg == alg
    assert key.has_private
    signature = key.sign(b"data")
    again = load_jwk(key.private_jwk())
    assert (again.alg, again.kid) == (alg, key.kid)
    assert again.verify(b"data", signature)
    if key.symmetric:
        with pytest.raises(UnsafeKey):
            key.public_jwk()
        return
    public = load_jwk(key.public_jwk())
    assert not public.has_private
    assert public.verify(b"data", signature)
    assert not public.verify(b"date", signature)
    with pytest.raises(UnsafeKey):
        public.sign(b"data")
    private: Any = key._private  # type: ignore[attr-defined]
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    from_pem = load_pem(pem, alg=alg)
    assert from_pem.kid == key.kid
    assert from_pem.verify(b"data", signature)


@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_public_jwk_has_no_private_member(alg: str) -> None:
    key = generate_key(alg)
    ring = KeyRing.single(key)
    for jwk in ring.jwks()["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["use"] == "sig"
        assert jwk["alg"] == alg
    if key.symmetric:
        assert ring.jwks() == {"keys": []}
    else:
        assert ring.jwks()["keys"] == [key.public_jwk()]
    assert key.kid in repr(key)
    secret = key.private_jwk().get("d") or key.private_jwk()["k"]
    assert secret not in repr(key)


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_shorter_than_the_hash_is_refused(alg: str, size: int) -> None:
    """RFC 7518 §3.2."""
    for short in (b"", b"x", bytes(range(size - 1))):
        with pytest.raises(UnsafeKey):
            hmac_key(short, alg)
    assert hmac_key(bytes(range(size)), alg).alg == alg


def test_publicly_known_secret_is_refused() -> None:
    listed = b"reallyreallyreallyreallyverysafe"
    assert len(listed) == 32
    with pytest.raises(UnsafeKey, match="public list"):
        hmac_key(listed)
    with pytest.raises(UnsafeKey):
        load_jwk({"kty": "oct", "k": "cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU"})


@pytest.mark.parametrize(
    "secret",
    [
        b"changeme-changeme-changeme-changeme!",
        b"ab" * 16 + b"c",  # 33 bytes, 3 distinct characters
        b"\x00" * 32,
        b"My-Super-SECRET-jwt-key-9f3a7c2e41d8b6",
        b"your-256-bit-key-goes-here-Q7x2Lm9Pz4",
        b"0123456789abcdef-PASSWORD-Zq8Kw3Rt6Yu1",
        b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-Nb5",
        b"https://example.com/jwt-key-Zq8Kw3Rt6Yu1Lm",
    ],
)
def test_placeholder_and_low_entropy_secrets_are_refused_in_every_mode(secret: bytes) -> None:
    """RFC 8725 §3.5 at key load, not only under production=True (SECURITY.md #11/#44)."""
    assert len(secret) >= 32
    for alg in ("HS256", "HS384", "HS512"):
        if len(secret) >= {"HS256": 32, "HS384": 48, "HS512": 64}[alg]:
            with pytest.raises(UnsafeKey, match=r"placeholder|distinct"):
                hmac_key(secret, alg)
    jwk = {"kty": "oct", "alg": "HS256", "k": b64url_encode(secret).decode()}
    with pytest.raises(UnsafeKey, match=r"placeholder|distinct"):
        load_jwk(jwk)


@pytest.mark.parametrize(
    "secret",
    [
        b"MySecretKeyForTheOrdersService-Zq8Kw3",
        b"YOUR_JWT_KEY_GOES_HERE_Zq8Kw3Rt6Yu1Lm0",
        b"Your-Key-For-Signing-Tokens-Zq8Kw3Rt6",
        b"ChangeMe-ChangeMe-0123456789-Zq8Kw3Rt6",
        # Wrapped the way .env files, templates and shell defaults leave them.
        b'"your-jwt-signing-key-at-least-32-chars"',
        b"<your-jwt-signing-key-min-32-characters>",
        b"${YOUR_JWT_KEY:-dev-only-key-0123456789}",
        b"enter-your-own-long-random-signing-key-here",
        # Short typed patterns repeated up to the length rule.
        b"passw0rd" * 4,
        b"Passw0rd!" * 4,
        b"abcd1234" * 4,
        b"0123456" * 5,
        b"012345" * 6,  # 36 characters, 6 distinct
    ],
)
def test_placeholders_and_typed_patterns_are_refused(secret: bytes) -> None:
    with pytest.raises(UnsafeKey, match=r"placeholder|distinct|pattern"):
        hmac_key(secret)


@pytest.mark.parametrize(
    "secret",
    [
        # What random text can hold by chance: a short word in a case mix, an opening
        # away from the start, four x's; few distinct digits in a small alphabet.
        b"Q7x2Lm9Pz4sEcReTk8Wq3Rt6Yu1Lm0Nb5Vc7Xz9Ad2",
        b"Q7x2Lm9Pz4your-k8Wq3Rt6Yu1Lm0Nb5Vc7Xz9Ad2",
        b"Q7x2Lm9Pz4xXxXk8Wq3Rt6Yu1Lm0Nb5Vc7Xz9Ad2",
        b"01234566543210024613513502466152",  # 32 hex digits, 7 distinct
        b"01234432100241313420031241042301",  # 32 decimal digits, 5 distinct
    ],
)
def test_random_looking_text_with_short_words_by_chance_is_accepted(secret: bytes) -> None:
    assert hmac_key(secret).alg == "HS256"


@functools.cache
def _stirling(n: int, k: int) -> int:
    """Ways to split n draws into k non-empty groups (second kind)."""
    if n == k:
        return 1
    if n == 0 or k == 0:
        return 0
    return k * _stirling(n - 1, k) + _stirling(n - 1, k - 1)


@pytest.mark.parametrize(
    ("draws", "symbols", "minimum"),
    [
        (32, 16, MIN_DISTINCT_HEX_DIGITS),  # an HS256 key written as hex
        (32, 10, MIN_DISTINCT_DECIMAL_DIGITS),  # 32 random decimal digits
        (43, 64, MIN_DISTINCT_SECRET_BYTES),  # secrets.token_urlsafe(32)
        (32, 256, MIN_DISTINCT_SECRET_BYTES),  # raw bytes
    ],
)
def test_too_few_distinct_characters_happens_to_random_keys_under_once_in_a_billion(
    draws: int, symbols: int, minimum: int
) -> None:
    """The bounds behind the distinct-character minimums, computed exactly: the chance
    that ``draws`` random characters of an alphabet of ``symbols`` show fewer."""
    refused = sum(
        math.comb(symbols, d) * _stirling(draws, d) * math.factorial(d) for d in range(1, minimum)
    )
    assert refused / symbols**draws < 1e-9


def test_random_secrets_in_common_encodings_are_accepted() -> None:
    # Seeded: the same 2,000 draws every run. The rules refuse a random secret with
    # probability around 10^-8, which a fresh draw per run would turn into a flake.
    rng = random.Random(8725)
    for _ in range(2000):
        raw = rng.randbytes(64)
        hmac_key(raw[:32])
        hmac_key(raw[:16].hex())  # 32 hex digits: only 16 symbols to pick from
        hmac_key(raw[:32].hex())
        hmac_key(b64url_encode(raw[:32]))  # what secrets.token_urlsafe(32) gives
        hmac_key(base64.b64encode(raw[:32]))
        hmac_key(b64url_encode(raw), "HS512")  # a generated HS512 JWK's "k"


def test_rsa_below_2048_bits_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UnsafeKey, match="2048"):
        RSAKey(small)
    pem = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(UnsafeKey):
        load_pem(pem)


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "", "alg": "HS256"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "X25519", "x": "AA"},
        {"kty": "RSA", "n": "AQAB"},
        {"kty": "EC", "crv": "P-256", "x": 1, "y": 2},
        {"kty": "oct", "k": "A" * 43, "use": "enc"},
        {"kty": "oct", "k": "A" * 43, "key_ops": ["encrypt"]},
        {"kty": "oct", "k": "A" * 43, "key_ops": "sign"},
        {"kty": "oct", "k": "A" * 43, "alg": "A256GCM"},
        {"kty": "oct", "k": "A" * 43, "alg": "none"},
        {"kty": "oct", "k": "A" * 43 + "="},
        {"kty": "oct", "k": "A" * 43, "kid": ""},
        {"kty": "unknown"},
        {},
    ],
)
def test_unusable_jwk_is_refused(jwk: dict[str, Any]) -> None:
    with pytest.raises(UnsafeKey):
        load_jwk(jwk)


@pytest.mark.parametrize(
    "material", [b"", b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
)
def test_unusable_pem_is_refused(material: bytes) -> None:
    with pytest.raises(UnsafeKey):
        load_pem(material)


def test_pem_of_one_type_refuses_another_algorithm() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert load_pem(pem).alg == "ES256"
    for alg in ("EdDSA", "RS256", "HS256"):
        with pytest.raises(UnsafeKey):
            load_pem(pem, alg=alg)


def test_key_ring_refuses_mixed_duplicate_and_headless_sets() -> None:
    hs, es = generate_key("HS256"), generate_key("ES256")
    with pytest.raises(UnsafeKey):
        KeyRing([ManagedKey(es, KeyState.ACTIVE), ManagedKey(hs, KeyState.NEXT)])
    with pytest.raises(UnsafeKey):
        KeyRing([ManagedKey(es, KeyState.ACTIVE), ManagedKey(es, KeyState.RETIRING)])
    with pytest.raises(UnsafeKey):
        KeyRing([ManagedKey(es, KeyState.NEXT)])
    with pytest.raises(UnsafeKey):
        KeyRing.single(load_jwk(es.public_jwk()))  # a verify-only key cannot sign
    with pytest.raises(UnsafeKey):
        KeyRing.from_jwks({"keys": [es.public_jwk(), es.public_jwk()]})
    with pytest.raises(UnsafeKey):
        KeyRing.from_jwks({"keys": []})


def test_rotation_publishes_next_key_before_it_signs_and_retires_old_key() -> None:
    """SECURITY.md A.6 #43 with an injected clock."""
    clock = FrozenClock(NOW)
    old, new = generate_key("EdDSA"), generate_key("EdDSA")
    ring = KeyRing.single(old)
    codec = TokenCodec(ring, issuer="https://auth.example.com", audience="api", clock=clock)
    before, _ = codec.issue(sub="u", ttl=900, client_id="c")

    ring.publish_next(new)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [old.kid, new.kid]
    assert ring.active is old  # published, not signing yet
    with pytest.raises(UnsafeKey):
        ring.publish_next(generate_key("EdDSA"))

    # A relying service that refreshed the JWKS now can verify tokens from the new key.
    relying = TokenCodec(
        KeyRing.from_jwks(ring.jwks()),
        issuer="https://auth.example.com",
        audience="api",
        clock=clock,
    )
    ring.promote_next(now=clock.now(), retire_after=900 + 30)
    after, _ = codec.issue(sub="u", ttl=900, client_id="c")
    assert codec.verify(after).kid == new.kid
    assert relying.verify(after).kid == new.kid
    assert codec.verify(before).kid == old.kid  # verify-only until retired
    with pytest.raises(UnsafeKey):
        ring.remove(new.kid)  # the active key cannot be removed

    clock.advance(929)
    assert ring.retire_expired(clock.now()) == []
    clock.advance(1)
    assert ring.retire_expired(clock.now()) == [old.kid]
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new.kid]
    with pytest.raises(UnknownKey):
        codec.verify(sign_raw(old, header_for(old), claims()))


def test_verify_only_ring_cannot_sign() -> None:
    key = generate_key("ES256")
    ring = KeyRing.verify_only([load_jwk(key.public_jwk())])
    codec = TokenCodec(ring, issuer="https://auth.example.com", audience="api")
    with pytest.raises(UnsafeKey):
        codec.issue(sub="u", ttl=60, client_id="c")


def test_hmac_key_repr_and_jwk_export_are_deliberate() -> None:
    key = generate_key("HS256")
    assert isinstance(key, HMACKey)
    assert "k=" not in repr(key)
    exported = json.dumps(key.private_jwk())
    assert load_jwk(json.loads(exported)).kid == key.kid
