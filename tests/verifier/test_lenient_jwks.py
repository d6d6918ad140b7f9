"""RFC 7517 §5: a JWK Set with keys the verifier does not understand (encryption
keys, other curves, algorithms it does not implement) is used for the keys it does
understand; what makes the whole set suspect (private or symmetric material, a
``kid`` naming two usable keys, no usable key at all) still refuses it. The same
rules hold for the fetched set (over HTTP), ``KeyRing.from_jwks`` and the CLI's
``token verify --jwks FILE``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519
from typer.testing import CliRunner

from authgate.cli import app
from authgate.errors import JWKSError, UnknownKey, UnsafeKey
from authgate.tokens import KeyRing, TokenCodec, generate_key
from authgate.tokens._encoding import b64url_encode

from ._issuer import AUDIENCE, Canned, Issuer
from .conftest import MakeVerifier

pytestmark = pytest.mark.anyio


def _b64(data: bytes) -> str:
    return b64url_encode(data).decode()


def _int(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def rsa_oaep_encryption_key() -> dict[str, Any]:
    nums = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    n = nums.public_numbers()
    return {"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP-256",
            "n": _int(n.n), "e": _int(n.e)}  # fmt: skip


def x25519_key() -> dict[str, Any]:
    raw = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "X25519", "kid": "ecdh-1", "x": _b64(raw)}


def p521_key() -> dict[str, Any]:
    n = ec.generate_private_key(ec.SECP521R1()).public_key().public_numbers()
    return {"kty": "EC", "crv": "P-521", "kid": "p521-1", "alg": "ES512",
            "x": _b64(n.x.to_bytes(66, "big")), "y": _b64(n.y.to_bytes(66, "big"))}  # fmt: skip


def unknown_alg_key() -> dict[str, Any]:
    jwk: dict[str, Any] = dict(generate_key("EdDSA").public_jwk())
    jwk.update(kid="pq-1", alg="ML-DSA-44")
    return jwk


def unknown_kty_key() -> dict[str, Any]:
    return {"kty": "AKP", "kid": "akp-1", "alg": "ML-DSA-65", "pub": "AAAA"}


FOREIGN: dict[str, Callable[[], dict[str, Any]]] = {
    "RSA-OAEP enc key": rsa_oaep_encryption_key,
    "OKP X25519 key": x25519_key,
    "EC P-521 key": p521_key,
    "unknown alg": unknown_alg_key,
    "unknown kty": unknown_kty_key,
}


def _serve(issuer: Issuer, keys: list[dict[str, Any]]) -> None:
    issuer.overrides["/jwks"] = Canned(body=orjson.dumps({"keys": keys}))


@pytest.mark.parametrize("foreign", FOREIGN)
async def test_a_key_the_verifier_does_not_understand_is_ignored_and_the_good_key_verifies(
    foreign: str, issuer: Issuer, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    good = issuer.ring.jwks()["keys"]
    _serve(issuer, [FOREIGN[foreign](), *good])
    verifier = make_verifier()
    with caplog.at_level(logging.DEBUG, logger="authgate.tokens"):
        await verifier.start()
    assert verifier.status().kids == (good[0]["kid"],)
    assert (await verifier.verify_access_token(issuer.issue())).sub == "user-1"
    assert any("ignored" in r.getMessage() for r in caplog.records)


async def test_every_kind_of_foreign_key_at_once_still_leaves_the_good_key(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    _serve(issuer, [make() for make in FOREIGN.values()] + issuer.ring.jwks()["keys"])
    verifier = make_verifier()
    await verifier.start()
    assert (await verifier.verify_access_token(issuer.issue())).sub == "user-1"


async def test_a_token_naming_an_ignored_key_is_refused(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    """An ignored key is never a verification key: a token whose kid names it is an
    unknown key, even when the ignored key is an Ed25519 key with an unknown alg."""
    foreign = generate_key("EdDSA")
    jwk = dict(foreign.public_jwk()) | {"alg": "ML-DSA-44"}
    _serve(issuer, [jwk, *issuer.ring.jwks()["keys"]])
    verifier = make_verifier()
    await verifier.start()
    codec = TokenCodec(KeyRing.single(foreign), issuer=issuer.url, audience=AUDIENCE,
                       clock=issuer.clock)  # fmt: skip
    token, _ = codec.issue(sub="mallory", ttl=900, client_id="web")
    with pytest.raises(UnknownKey):
        await verifier.verify_access_token(token)


async def test_a_set_of_foreign_keys_only_is_refused_with_each_reason(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    _serve(issuer, [rsa_oaep_encryption_key(), x25519_key(), p521_key()])
    verifier = make_verifier()
    with pytest.raises(JWKSError, match="no usable signing key") as caught:
        await verifier.start()
    for reason in ("'enc-1': use is 'enc'", "'ecdh-1'", "'p521-1': unsupported alg 'ES512'"):
        assert reason in caught.value.message


WHOLE_SET_REFUSED: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    # A private member on a key we would ignore anyway: the publisher leaks secrets.
    "private member on an enc key": (lambda: rsa_oaep_encryption_key() | {"d": "AAAA"}, "private"),
    "private X25519 key": (lambda: x25519_key() | {"d": _b64(b"\x01" * 32)}, "private"),
    "oct key of an unknown alg": (
        lambda: {"kty": "oct", "kid": "h", "alg": "A256KW", "use": "enc"},
        "symmetric",
    ),
}


@pytest.mark.parametrize("case", WHOLE_SET_REFUSED)
async def test_secret_material_anywhere_refuses_the_whole_set(
    case: str, issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    make, message = WHOLE_SET_REFUSED[case]
    _serve(issuer, [*issuer.ring.jwks()["keys"], make()])
    verifier = make_verifier()
    with pytest.raises(JWKSError, match=message):
        await verifier.start()


async def test_a_kid_shared_by_two_usable_keys_refuses_the_set_but_not_with_an_ignored_key(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    good = issuer.ring.jwks()["keys"][0]
    other = dict(generate_key("ES256").public_jwk()) | {"kid": good["kid"]}
    _serve(issuer, [good, other])
    with pytest.raises(JWKSError, match="duplicate kid"):
        await make_verifier().start()
    # RFC 7517 §4.5 lets keys of different kinds share a kid; an ignored one takes no part.
    _serve(issuer, [rsa_oaep_encryption_key() | {"kid": good["kid"]}, good])
    verifier = make_verifier()
    await verifier.start()
    assert (await verifier.verify_access_token(issuer.issue())).sub == "user-1"


def test_keyring_from_jwks_follows_the_same_rules() -> None:
    key = generate_key("ES256")
    document = {"keys": [rsa_oaep_encryption_key(), x25519_key(), p521_key(), key.public_jwk()]}
    assert [m.key.kid for m in KeyRing.from_jwks(document).entries()] == [key.kid]
    with pytest.raises(UnsafeKey, match="no usable signing key"):
        KeyRing.from_jwks({"keys": [x25519_key()]})
    with pytest.raises(UnsafeKey, match="duplicate kid"):
        KeyRing.from_jwks({"keys": [key.public_jwk(), key.public_jwk()]})


def test_cli_token_verify_with_a_jwks_file_ignores_foreign_keys(tmp_path: Path) -> None:
    key = generate_key("EdDSA")
    codec = TokenCodec(KeyRing.single(key), issuer="https://auth.example.com", audience="api")
    token, _ = codec.issue(sub="user-1", ttl=900, client_id="cli")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [rsa_oaep_encryption_key(), key.public_jwk()]}))
    args = ["--jwks", str(jwks), "--issuer", "https://auth.example.com", "--audience", "api"]
    result = CliRunner().invoke(app, ["token", "verify", token, *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "user-1"
    jwks.write_text(json.dumps({"keys": [rsa_oaep_encryption_key()]}))
    result = CliRunner().invoke(app, ["token", "verify", token, *args])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unsafe_key: no usable signing key")


def test_a_clients_published_key_set_refuses_secrets() -> None:
    """A client's JWK Set (``--jwks-file`` / ``--jwks-uri``) is public: an HMAC key in
    it would let anyone who reads it sign the client's assertions."""
    from authgate.service.registry import load_client_jwks

    oct_set = {"keys": [generate_key("HS256").private_jwk()]}
    with pytest.raises(UnsafeKey, match="symmetric"):
        KeyRing.from_jwks(oct_set, public_only=True)
    with pytest.raises(UnsafeKey, match="symmetric"):
        load_client_jwks(json.dumps(oct_set))
    private = {"keys": [generate_key("ES256").private_jwk()]}
    with pytest.raises(UnsafeKey, match="private"):
        load_client_jwks(json.dumps(private))
    mixed = {"keys": [rsa_oaep_encryption_key(), generate_key("ES256").public_jwk()]}
    assert len(load_client_jwks(json.dumps(mixed))) == 1
