"""Third-party test vectors (tests/vectors/README.md names each source and licence).

Wycheproof's JWS and JWK suites run through the codec; its primitive suites run
through the key classes' ``verify()``; the RFC 7520 cookbook's compact examples
must verify and its JSON-serialization and ``b64:false`` examples must not.
Every place where authgate is stricter than a vector's "valid" is listed below
with its reason, and the test fails if the set of such places changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _forge import verify_jws

from authgate.errors import TokenError, UnsafeKey, UnsupportedToken
from authgate.tokens import KeyRing, TokenCodec, _keytypes, hmac_key, load_jwk, load_pem
from authgate.tokens.keys import Key

VECTORS = Path(__file__).parent.parent / "vectors"
WYCHEPROOF = VECTORS / "wycheproof"
COOKBOOK = VECTORS / "jose-cookbook"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _codec(*keys: Key) -> TokenCodec:
    return TokenCodec(KeyRing.verify_only(keys), issuer="https://i", audience="a")


def _token(jws: Any) -> str:
    # Wycheproof writes JSON-serialized JWS as an object; the codec receives its text.
    return jws if isinstance(jws, str) else json.dumps(jws)


# -- Wycheproof json_web_signature_test.json ------------------------------------------

#: Groups whose key authgate refuses at load time, by the group's first tcId.
WYCHEPROOF_JWS_REFUSED_KEYS = {
    264: "RS384 is not an algorithm authgate supports",
    268: "RS512 is not an algorithm authgate supports",
    320: "PS384 is not an algorithm authgate supports",
    325: "PS512 is not an algorithm authgate supports",
    347: "ES512 on P-521 is not supported (P-256 only)",
    351: "ES512 on P-521 is not supported (P-256 only)",
    353: "use=enc: an encryption key is never a signing key",
    354: "use=enc: an encryption key is never a signing key",
    355: "key_ops encrypt/decrypt: an encryption key is never a signing key",
    356: "key_ops encrypt/decrypt: an encryption key is never a signing key",
}

#: "valid" vectors the codec rejects on purpose, with the rule that rejects them.
WYCHEPROOF_JWS_STRICTER = {
    259: "empty payload segment: authgate JWS always carry a JSON claims set",
    272: "empty payload segment: authgate JWS always carry a JSON claims set",
    346: "header says PS384 but the key is PS256: alg comes from the key (RFC 8725 §3.1)",
    350: "header says PS384 but the key is PS256: alg comes from the key (RFC 8725 §3.1)",
    372: "'?' inside the header segment is not base64url (SECURITY.md A.1 #1)",
    373: "'?' inside the payload segment is not base64url (SECURITY.md A.1 #1)",
}

#: Groups whose HS256 key authgate refuses as not random (RFC 8725 §3.5: all-zero
#: bytes). The refusal is asserted; the group's vectors then still run against the
#: codec, with that one key rule switched off for them alone.
WYCHEPROOF_JWS_WEAK_HMAC_KEYS = {357: "32 zero bytes: fewer than 10 distinct characters"}

#: "invalid" vectors whose text is byte-identical to a "valid" one (the defect they
#: name did not survive into the file), so no verifier can reject them and also
#: accept the valid twin. The test asserts the identity rather than trusting it.
WYCHEPROOF_JWS_IDENTICAL_TO_VALID = {367: 357, 370: 357}


def test_wycheproof_json_web_signature() -> None:
    suite = _load(WYCHEPROOF / "json_web_signature_test.json")
    refused: dict[int, str] = {}
    stricter: set[int] = set()
    weak: set[int] = set()
    accepted = rejected = 0
    text = {t["tcId"]: t["jws"] for g in suite["testGroups"] for t in g["tests"]}
    for broken, valid in WYCHEPROOF_JWS_IDENTICAL_TO_VALID.items():
        assert text[broken] == text[valid]
    for group in suite["testGroups"]:
        first = group["tests"][0]["tcId"]
        jwk = group.get("public") or group["private"]
        if first in WYCHEPROOF_JWS_WEAK_HMAC_KEYS:
            with pytest.raises(UnsafeKey, match="distinct characters"):
                load_jwk(jwk)
            weak.add(first)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(_keytypes, "check_hmac_secret", lambda secret: None)
                key = load_jwk(jwk)
        else:
            try:
                key = load_jwk(jwk)
            except UnsafeKey as exc:
                refused[first] = str(exc)
                continue
        codec = _codec(key)
        for test in group["tests"]:
            token = _token(test["jws"])
            if test["result"] == "valid":
                try:
                    verify_jws(codec, token)
                except TokenError:
                    stricter.add(test["tcId"])
                    continue
                accepted += 1
            elif test["tcId"] in WYCHEPROOF_JWS_IDENTICAL_TO_VALID:
                verify_jws(codec, token)
            else:
                assert test["result"] == "invalid", test
                with pytest.raises(TokenError):
                    verify_jws(codec, token)
                rejected += 1
    assert refused.keys() == WYCHEPROOF_JWS_REFUSED_KEYS.keys(), refused
    assert weak == WYCHEPROOF_JWS_WEAK_HMAC_KEYS.keys()
    assert stricter == WYCHEPROOF_JWS_STRICTER.keys()
    assert accepted == 22
    assert rejected >= 330


# -- Wycheproof json_web_key_test.json ---------------------------------------------------

#: Key sets authgate must refuse, by tcId, with the rule that refuses them.
WYCHEPROOF_JWK_REFUSED = {
    1: "HMAC and asymmetric keys in one ring (RFC 8725 §3.1)",
    4: "duplicate kid",
    6: "RSA1_5 / use=enc is not a signing key",
    7: "ROCA fingerprint (CVE-2017-15361)",
    8: "RSA below 2048 bits",
    9: "RSA public exponent 1",
    10: "HS256 key shorter than the hash (RFC 7518 §3.2)",
    11: "HS384 key shorter than the hash",
    12: "HS512 key shorter than the hash",
    16: "empty HMAC key",
    17: "empty HMAC key",
    18: "empty HMAC key",
    19: "ES521 is not a supported algorithm",
    20: "ES224 is not a supported algorithm",
    21: "use=enc",
    22: "point not on the curve",
    23: "P-384 coordinates on an ES256 key",
    24: "kty RSA with EC members",
    25: "A256GCM is not a signing algorithm",
    26: "A256KW is not a signing algorithm",
}


def test_wycheproof_json_web_key_sets() -> None:
    suite = _load(WYCHEPROOF / "json_web_key_test.json")
    refused: set[int] = set()
    for group in suite["testGroups"]:
        keyset = group.get("public") or group["private"]
        for test in group["tests"]:
            token = test["jws"]
            try:
                codec = _codec(*(load_jwk(jwk) for jwk in keyset["keys"]))
            except UnsafeKey:
                refused.add(test["tcId"])
                assert test["result"] == "invalid", test
                continue
            if test["result"] == "valid":
                assert verify_jws(codec, token)[1] == b"foo"
            else:
                with pytest.raises(TokenError):
                    verify_jws(codec, token)
    assert refused == WYCHEPROOF_JWK_REFUSED.keys()


def test_wycheproof_keysets_load_through_from_jwks() -> None:
    suite = _load(WYCHEPROOF / "json_web_key_test.json")
    by_comment = {g["comment"]: g for g in suite["testGroups"]}
    ring = KeyRing.from_jwks(by_comment["jws_keyset"]["private"])
    assert len(ring) == 2
    for comment in ("jws_mixedSymmetryKeyset", "jws_duplicate_kid", "jws_rsa_roca_key"):
        with pytest.raises(UnsafeKey):
            KeyRing.from_jwks(by_comment[comment].get("public") or by_comment[comment]["private"])


# -- Wycheproof primitives through the key classes ------------------------------------------


def _primitive_cases(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    suite = _load(WYCHEPROOF / name)
    return [(group, test) for group in suite["testGroups"] for test in group["tests"]]


def test_wycheproof_ecdsa_p256_p1363() -> None:
    checked = 0
    for group, test in _primitive_cases("ecdsa_secp256r1_sha256_p1363_test.json"):
        # Some groups give no JWK (coordinates too large for one); PEM always works.
        key = load_pem(group["publicKeyPem"], alg="ES256")
        ok = key.verify(bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
        assert ok is (test["result"] == "valid"), test["tcId"]
        checked += 1
    assert checked == 262


def test_wycheproof_ed25519() -> None:
    checked = 0
    for group, test in _primitive_cases("ed25519_test.json"):
        key = load_jwk(group["publicKeyJwk"], alg="EdDSA")
        ok = key.verify(bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
        assert ok is (test["result"] == "valid"), test["tcId"]
        checked += 1
    assert checked == 151


def test_wycheproof_hmac_sha256() -> None:
    """Keys under 32 bytes are refused at load (RFC 7518 §3.2). JWS HS256 always
    carries the full 32-byte tag, so a truncated tag never verifies, even where
    Wycheproof (testing truncated HMAC) calls it valid."""
    full = refused = truncated = 0
    for group, test in _primitive_cases("hmac_sha256_test.json"):
        secret = bytes.fromhex(test["key"])
        if int(group["keySize"]) < 256:
            with pytest.raises(UnsafeKey):
                hmac_key(secret)
            refused += 1
            continue
        ok = hmac_key(secret).verify(bytes.fromhex(test["msg"]), bytes.fromhex(test["tag"]))
        if int(group["tagSize"]) == 256:
            assert ok is (test["result"] == "valid"), test["tcId"]
            full += 1
        else:
            assert ok is False, test["tcId"]
            truncated += 1
    assert full > 0
    assert refused > 0
    assert truncated > 0


#: RSA PKCS#1 v1.5 vectors marked "acceptable": what authgate does, and why.
RSA_ACCEPTABLE = {
    # DigestInfo without the NULL parameter: OpenSSL refuses it; stricter is fine.
    "MissingNull": False,
}


def test_wycheproof_rsa_pkcs1_2048_sha256() -> None:
    checked = refused = 0
    for group, test in _primitive_cases("rsa_signature_2048_sha256_test.json"):
        if group["keyJwk"]["e"] != "AQAB":
            # e = 3: refused at load (public exponent must be at least 65537).
            with pytest.raises(UnsafeKey):
                load_pem(group["publicKeyPem"], alg="RS256")
            refused += 1
            continue
        key = load_pem(group["publicKeyPem"], alg="RS256")
        ok = key.verify(bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
        if test["result"] == "acceptable":
            (flag,) = test["flags"]
            assert ok is RSA_ACCEPTABLE[flag], test["tcId"]
        else:
            assert ok is (test["result"] == "valid"), test["tcId"]
        checked += 1
    assert (checked, refused) == (257, 2)


def test_wycheproof_rsa_pss_2048_sha256_mgf1_32() -> None:
    checked = 0
    for group, test in _primitive_cases("rsa_pss_2048_sha256_mgf1_32_test.json"):
        key = load_pem(group["publicKeyPem"], alg="PS256")
        ok = key.verify(bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))
        assert ok is (test["result"] == "valid"), test["tcId"]
        checked += 1
    assert checked == 108


# -- RFC 7520 (JOSE cookbook) -------------------------------------------------------------------

COOKBOOK_COMPACT_OK = [
    "jws/4_1.rsa_v15_signature.json",
    "jws/4_4.hmac-sha2_integrity_protection.json",
    "curve25519/jws.json",
]
COOKBOOK_UNSUPPORTED_KEY = {
    "jws/4_2.rsa-pss_signature.json": "PS384 is not supported",
    "jws/4_3.ecdsa_signature.json": "ES512 / P-521 is not supported",
}


@pytest.mark.parametrize("name", COOKBOOK_COMPACT_OK)
def test_rfc7520_compact_examples_verify(name: str) -> None:
    """The cookbook's payloads are text, not JWT claims: signature layer only."""
    example = _load(COOKBOOK / name)
    key = load_jwk(example["input"]["key"], alg=example["input"]["alg"])
    header, payload, kid = verify_jws(_codec(key), example["output"]["compact"])
    assert payload == example["input"]["payload"].encode()
    assert header == example["signing"]["protected"]
    assert kid == key.kid


@pytest.mark.parametrize("name", sorted(COOKBOOK_UNSUPPORTED_KEY))
def test_rfc7520_examples_with_unsupported_algorithms_are_refused_at_key_load(name: str) -> None:
    example = _load(COOKBOOK / name)
    with pytest.raises(UnsafeKey):
        load_jwk(example["input"]["key"], alg=example["input"]["alg"])


def _signing_key(example: dict[str, Any]) -> Key:
    key = example["input"]["key"]
    if isinstance(key, list):  # 4.8 multiple signatures: use the HS256 one
        key = next(k for k in key if k["kty"] == "oct")
    return load_jwk(key, alg="HS256") if key["kty"] == "oct" else load_jwk(key)


@pytest.mark.parametrize(
    "name",
    [
        "jws/4_1.rsa_v15_signature.json",
        "jws/4_4.hmac-sha2_integrity_protection.json",
        "jws/4_5.signature_with_detached_content.json",
        "jws/4_6.protecting_specific_header_fields.json",
        "jws/4_7.protecting_content_only.json",
        "jws/4_8.multiple_signatures.json",
        "curve25519/jws.json",
        "rfc7797/4.2.hmac-sha2_b64_false.json",
        "rfc7797/hmac-sha2_b64_false.json",
    ],
)
def test_rfc7520_json_serializations_are_rejected(name: str) -> None:
    example = _load(COOKBOOK / name)
    codec = _codec(_signing_key(example))
    forms = [v for k, v in example["output"].items() if k.startswith("json")]
    assert forms
    for form in forms:
        with pytest.raises(UnsupportedToken):
            verify_jws(codec, json.dumps(form))


def test_rfc7520_detached_content_is_rejected() -> None:
    example = _load(COOKBOOK / "jws/4_5.signature_with_detached_content.json")
    codec = _codec(_signing_key(example))
    assert example["output"]["compact"].split(".")[1] == ""
    with pytest.raises(TokenError):
        verify_jws(codec, example["output"]["compact"])


def test_rfc7797_b64_false_compact_is_rejected() -> None:
    example = _load(COOKBOOK / "rfc7797/hmac-sha2_b64_false.json")
    codec = _codec(_signing_key(example))
    with pytest.raises(TokenError):
        verify_jws(codec, example["output"]["compact"])


# -- weak secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_no_publicly_known_jwt_secret_is_accepted(alg: str) -> None:
    """wallarm/jwt-secrets: every one of its ~104k secrets is refused as a key."""
    lines = (VECTORS / "weak-secrets" / "jwt.secrets.list").read_bytes().split(b"\n")
    secrets = [line.rstrip(b"\r") for line in lines if line.rstrip(b"\r")]
    assert len(secrets) > 100_000
    for secret in secrets:
        with pytest.raises(UnsafeKey):
            hmac_key(secret, alg)
