"""RFC 9864's fully specified "Ed25519" algorithm name, next to "EdDSA".

An Ed25519 key answers to both names (with an Ed25519 key they mean one routine);
no other key answers to "Ed25519", and no spelling but the exact two reaches the
Ed25519 routine (RFC 8725 §3.1: the algorithm comes from the key). Advisory style:
each attack is forged with real keys and must fail with the right error.
"""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from _forge import AUDIENCE, ISSUER, NOW, claims, codec_for, header_for, hmac_forge, sign_raw
from cryptography.hazmat.primitives import serialization

from authgate.clock import FrozenClock
from authgate.errors import BadSignature, UnsafeKey
from authgate.tokens import (
    SUPPORTED_ALGORITHMS,
    EdDSAKey,
    Key,
    KeyRing,
    TokenCodec,
    generate_key,
    load_jwk,
    load_pem,
)


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {alg: generate_key(alg) for alg in ("EdDSA", "Ed25519", "ES256", "HS256")} | {
        "RS256": load_pem(generate_key("RS256").private_pem(), alg="RS256"),
    }


def _relying_codec(key: Key) -> TokenCodec:
    """What another service holds: the key's public JWK, verify-only."""
    ring = KeyRing.from_jwks({"keys": [key.public_jwk()]})
    return TokenCodec(ring, issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(NOW))


def test_ed25519_is_a_supported_name_and_eddsa_stays_the_default() -> None:
    assert "Ed25519" in SUPPORTED_ALGORITHMS
    assert generate_key().alg == "EdDSA"
    assert EdDSAKey(generate_key("Ed25519")._private).alg == "EdDSA"  # type: ignore[attr-defined]


def test_a_key_made_for_ed25519_signs_and_publishes_under_that_name(
    keys: dict[str, Key],
) -> None:
    key = keys["Ed25519"]
    codec = codec_for(key)
    token = codec.encode(claims())
    header = json.loads(pyjwt.utils.base64url_decode(token.split(".")[0]))
    assert header["alg"] == "Ed25519"
    assert codec.verify(token).sub == "user-1"
    public = key.public_jwk()
    assert public["alg"] == "Ed25519"
    assert load_jwk(public).alg == "Ed25519"
    assert load_jwk(key.private_jwk()).alg == "Ed25519"
    assert load_pem(key.private_pem(), alg="Ed25519").alg == "Ed25519"
    # The kid is the RFC 7638 thumbprint of the key, whatever its algorithm's name.
    assert load_pem(key.private_pem(), alg="EdDSA").kid == key.kid


@pytest.mark.parametrize("signed_as", ["EdDSA", "Ed25519"])
@pytest.mark.parametrize("key_alg", ["EdDSA", "Ed25519"])
def test_an_ed25519_key_accepts_either_name(
    signed_as: str, key_alg: str, keys: dict[str, Key]
) -> None:
    key = keys[key_alg]
    token = sign_raw(key, header_for(key, alg=signed_as), claims())
    assert codec_for(key).verify(token).sub == "user-1"
    assert _relying_codec(key).verify(token).sub == "user-1"


@pytest.mark.parametrize("other", ["ES256", "RS256", "HS256"])
def test_an_ed25519_header_never_verifies_with_another_key(
    other: str, keys: dict[str, Key]
) -> None:
    """A token validly signed by an ES256, RS256 or HS256 key, its header saying
    "Ed25519": the key's own algorithm decides, so it is refused."""
    key = keys[other]
    token = sign_raw(key, header_for(key, alg="Ed25519"), claims())
    with pytest.raises(BadSignature, match="alg does not match"):
        codec_for(key).verify(token)


@pytest.mark.parametrize(
    "alg", ["ed25519", "ED25519", "Ed25519 ", " Ed25519", "Ed25519\u0000", "Ed448", "EdDSA25519"]
)
def test_no_other_spelling_reaches_the_ed25519_routine(alg: str, keys: dict[str, Key]) -> None:
    key = keys["Ed25519"]
    token = sign_raw(key, header_for(key, alg=alg), claims())
    with pytest.raises(BadSignature, match="alg does not match"):
        codec_for(key).verify(token)


def _public_forms(key: Key) -> dict[str, bytes]:
    public: Any = getattr(key, "_public")  # noqa: B009
    return {
        "raw": public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        "pem": key.public_pem(),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "openssh": public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "jwk": json.dumps(key.public_jwk()).encode(),
    }


@pytest.mark.parametrize("header_alg", ["Ed25519", "EdDSA", "HS256"])
def test_hmac_forged_with_the_ed25519_public_key_is_rejected(
    header_alg: str, keys: dict[str, Key]
) -> None:
    """CVE-2022-29217 / CVE-2026-48526 with the new name: the public key in any
    encoding used as an HMAC secret, whichever name the header gives."""
    key = keys["Ed25519"]
    codec = codec_for(key)
    for secret in _public_forms(key).values():
        header = {"alg": header_alg, "kid": key.kid, "typ": "at+jwt"}
        forged = hmac_forge(secret, header, claims())
        with pytest.raises(BadSignature):
            codec.verify(forged)


@pytest.mark.parametrize("other", ["ES256", "RS256"])
def test_the_ed25519_name_cannot_be_bound_to_another_key_type(
    other: str, keys: dict[str, Key]
) -> None:
    key = keys[other]
    with pytest.raises(UnsafeKey, match="cannot be used with Ed25519"):
        load_jwk(key.public_jwk() | {"alg": "Ed25519"})
    with pytest.raises(UnsafeKey, match="cannot be used with Ed25519"):
        load_pem(key.public_pem(), alg="Ed25519")
    with pytest.raises(UnsafeKey):
        load_jwk(keys["Ed25519"].public_jwk(), alg="ES256")
    with pytest.raises(UnsafeKey):
        EdDSAKey(keys["Ed25519"]._public, alg="Ed448")  # type: ignore[attr-defined]


def test_pyjwt_verifies_an_eddsa_named_token_of_the_same_key(keys: dict[str, Key]) -> None:
    """Interop: a signer still on "EdDSA" (PyJWT lacks "Ed25519") and a verifier whose
    JWK says "Ed25519" agree, because the key, not the name, picks the routine."""
    key = keys["Ed25519"]
    pem = key.private_pem().decode()
    token = pyjwt.encode(
        claims(), pem, algorithm="EdDSA", headers={"kid": key.kid, "typ": "at+jwt"}
    )
    codec = _relying_codec(key)
    assert codec.keys.get(key.kid).alg == "Ed25519"  # type: ignore[union-attr]
    assert codec.verify(token).sub == "user-1"
