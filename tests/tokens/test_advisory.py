"""One regression test per known attack class on JWT libraries (SECURITY.md A.1–A.4).

Each test forges the attack with real keys and proves the codec refuses it with
the right :class:`~authgate.errors.TokenError` subclass.
"""

from __future__ import annotations

import datetime
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from _forge import (
    AUDIENCE,
    ISSUER,
    NOW,
    P256_ORDER,
    b64,
    claims,
    codec_for,
    compact,
    flip_unused_bits,
    header_for,
    hmac_forge,
    sign_raw,
    unb64,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from authgate.clock import FrozenClock
from authgate.errors import (
    BadSignature,
    Expired,
    InvalidClaim,
    MalformedToken,
    NotYetValid,
    Revoked,
    TokenError,
    UnknownKey,
    UnsupportedToken,
    WrongTokenType,
)
from authgate.tokens import (
    ECKey,
    EdDSAKey,
    HMACKey,
    Key,
    KeyRing,
    KeyState,
    ManagedKey,
    RSAKey,
    TokenCodec,
    VerifiedToken,
    VerifiedTokenCache,
    generate_key,
)

ASYMMETRIC = ["EdDSA", "ES256", "RS256"]


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {
        "EdDSA": EdDSAKey(ed25519.Ed25519PrivateKey.generate()),
        "ES256": ECKey(ec.generate_private_key(ec.SECP256R1())),
        # 2048 bits is the floor authgate accepts, and quick to generate.
        "RS256": RSAKey(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "HS256": generate_key("HS256"),
    }


@pytest.fixture
def hs() -> HMACKey:
    key = generate_key("HS256")
    assert isinstance(key, HMACKey)
    return key


def good(key: Key, **changes: Any) -> str:
    return sign_raw(key, header_for(key), claims(**changes))


# -- alg ------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "c2ln"])
def test_alg_none_is_rejected_in_every_spelling(
    spelling: str, signature: str, keys: dict[str, Key]
) -> None:
    for key in keys.values():
        h = b64(compact({"alg": spelling, "kid": key.kid, "typ": "at+jwt"}))
        token = f"{h}.{b64(compact(claims()))}.{signature}"
        with pytest.raises(UnsupportedToken if signature else MalformedToken):
            codec_for(key).verify(token)


@pytest.mark.parametrize(
    "alg", ["HS256", "es256", "ES256 ", "ES256\u0000", "RS256", "ES384", "EdDSA", "PS256", ""]
)
def test_header_alg_never_selects_the_routine(alg: str, keys: dict[str, Key]) -> None:
    """RFC 8725 §3.1: an otherwise valid ES256 token whose header names another alg."""
    key = keys["ES256"]
    token = sign_raw(key, header_for(key, alg=alg), claims())
    with pytest.raises(BadSignature):
        codec_for(key).verify(token)


@pytest.mark.parametrize("alg", [None, 256, ["ES256"], {"alg": "ES256"}])
def test_non_string_alg_is_malformed(alg: Any, keys: dict[str, Key]) -> None:
    key = keys["ES256"]
    header = header_for(key)
    header["alg"] = alg
    with pytest.raises(MalformedToken):
        codec_for(key).verify(sign_raw(key, header, claims()))


def test_stripped_signature_is_rejected(keys: dict[str, Key]) -> None:
    for key in keys.values():
        h, p, _ = good(key).split(".")
        for token in (f"{h}.{p}.", f"{h}.{p}", f"{h}..", f".{p}."):
            with pytest.raises(MalformedToken):
                codec_for(key).verify(token)


def test_tampered_payload_is_rejected(keys: dict[str, Key]) -> None:
    for key in keys.values():
        h, _, s = good(key).split(".")
        forged = b64(compact(claims(sub="admin")))
        with pytest.raises(BadSignature):
            codec_for(key).verify(f"{h}.{forged}.{s}")


def test_signature_of_another_token_is_rejected(keys: dict[str, Key]) -> None:
    for key in keys.values():
        h, p, _ = good(key, sub="admin").split(".")
        s = good(key).split(".")[2]
        with pytest.raises(BadSignature):
            codec_for(key).verify(f"{h}.{p}.{s}")


# -- key confusion ----------------------------------------------------------------


def _certificate_pem(key: Key) -> bytes:
    private: Any = key._private  # type: ignore[attr-defined]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate test")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(private, None if key.alg == "EdDSA" else hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def public_key_forms(key: Key) -> dict[str, bytes]:
    """Every spelling of ``key``'s public half an attacker might try as an HMAC secret."""
    public: Any = key._public  # type: ignore[attr-defined]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = public.public_bytes(serialization.Encoding.PEM, spki)
    forms = {
        "pem": pem,
        "pem_without_trailing_newline": pem.rstrip(b"\n"),
        "pem_crlf": pem.replace(b"\n", b"\r\n"),
        "der": public.public_bytes(serialization.Encoding.DER, spki),
        "jwk_json": json.dumps(key.public_jwk()).encode(),
        "jwk_json_compact": compact(key.public_jwk()),
        "openssh": public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ),
        "x509_certificate_pem": _certificate_pem(key),
    }
    if key.alg == "EdDSA":
        forms["raw"] = public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    elif key.alg == "ES256":
        forms["raw"] = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        forms["raw"] = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
        forms["pkcs1_pem"] = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        )
    return forms


@pytest.mark.parametrize("asym", ASYMMETRIC)
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
def test_hmac_signed_with_our_public_key_is_rejected(
    asym: str, hmac_alg: str, keys: dict[str, Key]
) -> None:
    """CVE-2017-11424, CVE-2022-29217, CVE-2024-33663, CVE-2026-48526: the public
    key in any encoding used as an HMAC secret."""
    key = keys[asym]
    codec = codec_for(key)
    forms = public_key_forms(key)
    assert len(forms) >= 9
    for form, secret in forms.items():
        for kid in (key.kid, None):
            header: dict[str, Any] = {"alg": hmac_alg, "typ": "at+jwt"}
            if kid is not None:
                header["kid"] = kid
            token = hmac_forge(secret, header, claims())
            with pytest.raises(BadSignature):
                codec.verify(token)
            assert form  # the form that was refused, for the failure message


def test_hmac_and_asymmetric_keys_never_share_a_verifier(keys: dict[str, Key]) -> None:
    from authgate.errors import UnsafeKey

    with pytest.raises(UnsafeKey):
        KeyRing(
            [ManagedKey(keys["ES256"], KeyState.ACTIVE), ManagedKey(keys["HS256"], KeyState.NEXT)]
        )
    with pytest.raises(UnsafeKey):
        KeyRing.verify_only([keys["HS256"], keys["EdDSA"]])


# -- key material from the token --------------------------------------------------------


def test_embedded_jwk_is_rejected(keys: dict[str, Key]) -> None:
    """CVE-2018-0114, CVE-2026-27962: the attacker signs with their own key and ships it."""
    ours = keys["ES256"]
    attacker = ECKey(ec.generate_private_key(ec.SECP256R1()), kid=ours.kid)
    header = header_for(ours, jwk=attacker.public_jwk())
    with pytest.raises(UnsupportedToken):
        codec_for(ours).verify(sign_raw(attacker, header, claims()))


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b'{"keys":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_CountingHandler]]]:
    handler = type("Handler", (_CountingHandler,), {"hits": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_jku_and_x5u_are_rejected_and_never_fetched(
    member: str, keys: dict[str, Key], jwks_server: tuple[str, type[_CountingHandler]]
) -> None:
    import urllib.request

    url, handler = jwks_server
    for key in keys.values():
        token = sign_raw(key, header_for(key, **{member: url}), claims())
        with pytest.raises(UnsupportedToken):
            codec_for(key).verify(token)
    assert handler.hits == 0
    # The counter works: a real fetch is counted.
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    assert handler.hits == 1


def test_x5c_and_x5t_are_rejected(keys: dict[str, Key]) -> None:
    key = keys["ES256"]
    cert = b64(
        x509.load_pem_x509_certificate(_certificate_pem(key)).public_bytes(
            serialization.Encoding.DER
        )
    )
    for header in (header_for(key, x5c=[cert]), header_for(key, x5t="abc")):
        with pytest.raises(UnsupportedToken):
            codec_for(key).verify(sign_raw(key, header, claims()))


KID_INJECTIONS: list[Any] = [
    "../../../../dev/null",
    "/dev/null",
    "' OR '1'='1",
    "x' UNION SELECT '1';--",
    "|sleep 10",
    "http://127.0.0.1:9/",
    "k" * 10_240,
    123,
    None,
    {"$ne": 1},
    "a\u0000b",
]


@pytest.mark.parametrize("kid", KID_INJECTIONS, ids=lambda k: repr(k)[:24])
@pytest.mark.parametrize("secret", [b"", b"\x00", b"1"])
def test_kid_injection_finds_no_key(kid: Any, secret: bytes) -> None:
    """SECURITY.md A.2 #12: kid is only an exact lookup in the configured ring."""
    ring = KeyRing(
        [
            ManagedKey(generate_key("HS256"), KeyState.ACTIVE),
            ManagedKey(generate_key("HS256"), KeyState.NEXT),
        ]
    )
    codec = TokenCodec(ring, issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(NOW))
    big = TokenCodec(
        ring, issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(NOW), max_size=1 << 16
    )
    token = hmac_forge(secret, {"alg": "HS256", "kid": kid, "typ": "at+jwt"}, claims())
    expected: type[TokenError] = UnknownKey
    if not isinstance(kid, str | None):
        expected = MalformedToken
    with pytest.raises(MalformedToken if len(token) > 8192 else expected):
        codec.verify(token)
    with pytest.raises(expected):
        big.verify(token)


# -- extensions the codec does not implement ------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["x"], "x": 1},
        {"crit": ["exp"]},
        {"crit": []},
        {"crit": "b64"},
        {"crit": ["b64"], "b64": True},
    ],
)
def test_crit_is_rejected(extra: dict[str, Any], keys: dict[str, Key]) -> None:
    """RFC 7515 §4.1.11; CVE-2026-32597, CVE-2025-59420."""
    key = keys["ES256"]
    with pytest.raises(UnsupportedToken):
        codec_for(key).verify(sign_raw(key, header_for(key, **extra), claims()))


def test_b64_false_is_rejected(keys: dict[str, Key]) -> None:
    """RFC 7797 unencoded payloads, with and without crit, signed over the raw payload."""
    key = keys["ES256"]
    payload = compact(claims())
    for extra in ({"b64": False, "crit": ["b64"]}, {"b64": False}):
        header = b64(compact(header_for(key, **extra)))
        signing_input = header.encode() + b"." + payload
        token = f"{header}.{b64(payload)}.{b64(key.sign(signing_input))}"
        with pytest.raises(UnsupportedToken):
            codec_for(key).verify(token)


@pytest.mark.parametrize("extra", [{"cty": "JWT"}, {"zip": "DEF"}, {"enc": "A256GCM"}])
def test_nested_and_jwe_header_members_are_rejected(
    extra: dict[str, Any], keys: dict[str, Key]
) -> None:
    key = keys["HS256"]
    with pytest.raises(UnsupportedToken):
        codec_for(key).verify(sign_raw(key, header_for(key, **extra), claims()))


def test_jwe_five_segments_is_rejected(keys: dict[str, Key]) -> None:
    """CVE-2023-51774 / CVE-2022-3102: a JWE where a JWS is expected."""
    header = b64(compact({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": keys["RS256"].kid}))
    token = f"{header}.{b64(b'k' * 256)}.{b64(b'iv' * 6)}.{b64(b'ciphertext')}.{b64(b't' * 16)}"
    with pytest.raises(UnsupportedToken):
        codec_for(keys["RS256"]).verify(token)


def test_json_serialization_is_rejected(keys: dict[str, Key]) -> None:
    key = keys["ES256"]
    h, p, s = good(key).split(".")
    flattened = json.dumps({"payload": p, "protected": h, "signature": s})
    general = json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})
    for token in (flattened, general):
        with pytest.raises(UnsupportedToken):
            codec_for(key).verify(token)
    # CVE-2022-39227: a compact token with a JSON tail is a polyglot, not a JWS.
    with pytest.raises(MalformedToken):
        codec_for(key).verify(good(key) + '{"payload":"' + p + '"}')


# -- signature encodings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 0), (P256_ORDER, P256_ORDER), (0, 1), (1, 0), (P256_ORDER, 1), (1, P256_ORDER)],
)
def test_ecdsa_psychic_signature_is_rejected(r: int, s: int, keys: dict[str, Key]) -> None:
    """CVE-2022-21449: r, s outside [1, n-1] never verify."""
    key = keys["ES256"]
    h, p, _ = good(key).split(".")
    token = f"{h}.{p}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    with pytest.raises(BadSignature):
        codec_for(key).verify(token)


def test_ecdsa_der_and_wrong_length_signatures_are_rejected(keys: dict[str, Key]) -> None:
    key = keys["ES256"]
    h, p, s = good(key).split(".")
    raw = unb64(s)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    for sig in (der, raw + b"\x00", b"\x00" + raw, raw[:63]):
        with pytest.raises(BadSignature):
            codec_for(key).verify(f"{h}.{p}.{b64(sig)}")


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "HS256"])
def test_all_zero_signature_is_rejected(alg: str, keys: dict[str, Key]) -> None:
    key = keys[alg]
    h, p, s = good(key).split(".")
    for size in {64, len(unb64(s))}:
        with pytest.raises(BadSignature):
            codec_for(key).verify(f"{h}.{p}.{b64(bytes(size))}")


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "HS256"])
def test_non_canonical_base64_is_rejected(alg: str, keys: dict[str, Key]) -> None:
    """SECURITY.md A.1 #1–#2: one spelling per token; PyJWT accepts these."""
    key = keys[alg]
    token = good(key)
    h, p, s = token.split(".")
    codec = codec_for(key)
    assert codec.verify(token).sub == "user-1"
    variants = [
        f"{h}.{p}.{flip_unused_bits(s)}",
        f"{h}.{p}.{s}=",
        f"{h}.{p}.{s}==",
        f"{h}.{p}.{s} ",
        f" {token}",
        f"{h}.{p}.{s}\n",
        f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}",
        f"{h}.{p}.{s[:10]} {s[10:]}",
    ]
    if len(p) % 4 in (2, 3):
        variants.append(f"{h}.{flip_unused_bits(p)}.{s}")
    if len(h) % 4 in (2, 3):
        variants.append(f"{flip_unused_bits(h)}.{p}.{s}")
    variants.append(f"{h}=.{p}.{s}")
    for variant in variants:
        if variant.replace("+", "-").replace("/", "_") == token:
            continue  # the signature had no '-' or '_' to respell
        with pytest.raises(MalformedToken):
            codec.verify(variant)
    # A truncated signature is canonical base64url about one time in sixteen (its new
    # last character happens to carry zero unused bits): then it is a bad signature.
    with pytest.raises((MalformedToken, BadSignature)):
        codec.verify(f"{h}.{p}.{s[:-1]}")


# -- JSON ------------------------------------------------------------------------------


def _raw_claims(exp_json: str) -> bytes:
    body = compact(claims(exp=None))
    return body[:-1] + (b',"exp":' + exp_json.encode() if exp_json else b"") + b"}"


@pytest.mark.parametrize(
    ("exp_json", "error"),
    [
        ('"9999999999"', InvalidClaim),
        ("1e400", MalformedToken),
        ("-1e400", MalformedToken),
        ("NaN", MalformedToken),
        ("Infinity", MalformedToken),
        ("true", InvalidClaim),
        ("null", InvalidClaim),
        ("[1800000600]", InvalidClaim),
        ('{"v":1800000600}', InvalidClaim),
        ("", InvalidClaim),
        ("1.5e9", Expired),
        (str(NOW - 61), Expired),
    ],
)
def test_exp_type_confusion_is_rejected(
    exp_json: str, error: type[TokenError], hs: HMACKey
) -> None:
    token = sign_raw(hs, header_for(hs), _raw_claims(exp_json))
    with pytest.raises(error):
        codec_for(hs).verify(token)


def test_exp_boundaries_with_and_without_leeway(hs: HMACKey) -> None:
    strict = codec_for(hs, leeway=0)
    with pytest.raises(Expired):
        strict.verify(good(hs, exp=NOW))
    assert strict.verify(good(hs, exp=NOW + 1)).exp == NOW + 1
    assert strict.verify(good(hs, exp=float(NOW) + 0.5)).exp == NOW + 0.5
    lenient = codec_for(hs)  # 30 s
    assert lenient.verify(good(hs, exp=NOW - 29)).sub == "user-1"
    with pytest.raises(Expired):
        lenient.verify(good(hs, exp=NOW - 30))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"nbf": NOW + 120}, NotYetValid),
        ({"iat": NOW + 3600}, NotYetValid),
        ({"iat": "x"}, InvalidClaim),
        ({"nbf": "x"}, InvalidClaim),
        ({"iat": True}, InvalidClaim),
    ],
)
def test_nbf_and_iat_in_the_future_or_mistyped_are_rejected(
    changes: dict[str, Any], error: type[TokenError], hs: HMACKey
) -> None:
    with pytest.raises(error):
        codec_for(hs).verify(good(hs, **changes))
    assert codec_for(hs).verify(good(hs, nbf=NOW + 30, iat=NOW + 30)).sub == "user-1"


def test_nbf_null_is_rejected(hs: HMACKey) -> None:
    body = compact(claims())[:-1] + b',"nbf":null}'
    with pytest.raises(InvalidClaim):
        codec_for(hs).verify(sign_raw(hs, header_for(hs), body))


@pytest.mark.parametrize("claim", ["sub", "jti", "client_id", "iat", "exp", "iss", "aud"])
def test_missing_required_claim_is_rejected(claim: str, hs: HMACKey) -> None:
    with pytest.raises((InvalidClaim, Expired)):
        codec_for(hs).verify(good(hs, **{claim: None}))


@pytest.mark.parametrize("claim", ["sub", "jti", "client_id", "scope", "sid"])
@pytest.mark.parametrize("value", ["", 1, ["a"], True])
def test_mistyped_string_claim_is_rejected(claim: str, value: Any, hs: HMACKey) -> None:
    if claim == "scope" and value == "":
        assert codec_for(hs).verify(good(hs, scope=value)).scope == frozenset()
        return
    with pytest.raises(InvalidClaim):
        codec_for(hs).verify(good(hs, **{claim: value}))


def _nested(depth: int) -> bytes:
    return b'{"alg":"HS256","typ":"at+jwt","x":' + b"[" * depth + b"]" * depth + b"}"


def test_header_nested_10000_deep_is_rejected(hs: HMACKey) -> None:
    """SECURITY.md A.1 #4: PyJWT 2.12.1 raised RecursionError here, before the signature."""
    token = sign_raw(hs, _nested(10_000), claims())
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(token)  # over the size cap
    with pytest.raises(MalformedToken):
        codec_for(hs, max_size=1 << 20).verify(token)  # parsed, and refused for depth
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(sign_raw(hs, _nested(40), claims()))
    payload = compact(claims())[:-1] + b',"x":' + b"[" * 40 + b"]" * 40 + b"}"
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(sign_raw(hs, header_for(hs), payload))


def test_one_megabyte_token_is_rejected_before_parsing(hs: HMACKey) -> None:
    token = good(hs, pad="x" * 1_000_000)
    assert len(token) > 1_000_000
    with pytest.raises(MalformedToken, match="size cap"):
        codec_for(hs).verify(token)
    with pytest.raises(MalformedToken):
        codec_for(hs).verify("a" * 1_048_576)
    # Within a raised cap the same token is fine: the cap, not the content, refused it.
    assert codec_for(hs, max_size=1 << 21).verify(token).sub == "user-1"


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"HS256","alg":"none","typ":"at+jwt"}',
        b'{"alg":"HS256","typ":"at+jwt","typ":"at+jwt"}',
        b'{"alg":"HS256","typ":"at+jwt", "typ" :"JWT"}',
        b'{"alg":"HS256","typ":"at+jwt","\\u0074yp":"at+jwt"}',
    ],
)
def test_duplicate_member_names_in_header_are_rejected(header: bytes, hs: HMACKey) -> None:
    with pytest.raises(MalformedToken, match="duplicate"):
        codec_for(hs).verify(sign_raw(hs, header, claims()))


@pytest.mark.parametrize(
    "tail",
    [
        b',"sub":"admin"}',
        b', "sub" : "admin"}',
        b',"s\\u0075b":"admin"}',
        b',"extra":{"a":1,"a":2}}',
        b',"extra":[{"a":"x","a":"y"}]}',
    ],
)
def test_duplicate_member_names_in_payload_are_rejected(tail: bytes, hs: HMACKey) -> None:
    payload = compact(claims())[:-1] + tail
    with pytest.raises(MalformedToken, match="duplicate"):
        codec_for(hs).verify(sign_raw(hs, header_for(hs), payload))


def test_escaped_but_distinct_names_are_accepted(hs: HMACKey) -> None:
    payload = compact(claims())[:-1] + b',"n\\u00e4me":"x","name":"y"}'
    verified = codec_for(hs).verify(sign_raw(hs, header_for(hs), payload))
    assert verified.claims["n\u00e4me"] == "x"


def test_invalid_utf8_is_rejected(hs: HMACKey) -> None:
    payload = compact(claims())[:-1] + b',"name":"\xff\xfe"}'
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(sign_raw(hs, header_for(hs), payload))
    header = b'{"alg":"HS256","typ":"at+jwt","x":"\xc3\x28"}'
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(sign_raw(hs, header, claims()))
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(good(hs) + "\u00e9")


@pytest.mark.parametrize("payload", [b"[1,2]", b'"claims"', b"42", b"null", b"", b"{"])
def test_payload_that_is_not_a_json_object_is_rejected(payload: bytes, hs: HMACKey) -> None:
    with pytest.raises(MalformedToken):
        codec_for(hs).verify(sign_raw(hs, header_for(hs), payload))


def test_header_that_is_not_a_json_object_is_rejected(hs: HMACKey) -> None:
    for header in (b'["HS256"]', b"HS256", b"{'alg':'HS256'}"):
        with pytest.raises(MalformedToken):
            codec_for(hs).verify(sign_raw(hs, header, claims()))


# -- typ and token kinds ------------------------------------------------------------------


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "rt+jwt", "at+jwt ", "at", 1, ""])
def test_wrong_typ_is_rejected(typ: Any, hs: HMACKey) -> None:
    header = header_for(hs)
    if typ is None:
        del header["typ"]
    else:
        header["typ"] = typ
    with pytest.raises(WrongTokenType):
        codec_for(hs).verify(sign_raw(hs, header, claims()))


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+JWT"])
def test_access_token_typ_compares_as_a_media_type(typ: str, hs: HMACKey) -> None:
    """RFC 8725 §3.11, RFC 9068 §4: case-insensitive, optional application/ prefix."""
    assert codec_for(hs).verify(sign_raw(hs, header_for(hs, typ=typ), claims())).typ == "at+jwt"


def test_token_kinds_are_never_accepted_as_each_other(hs: HMACKey) -> None:
    """RFC 8725 §3.12: a reset token is not an access token, and the reverse."""
    codec = codec_for(hs, cache=VerifiedTokenCache())
    reset, _ = codec.issue(sub="u", ttl=300, client_id="c", typ="reset+jwt")
    access, _ = codec.issue(sub="u", ttl=300, client_id="c")
    assert codec.verify(reset, typ="reset+jwt").typ == "reset+jwt"
    assert codec.verify(access).typ == "at+jwt"
    # Both are now cached: the cache must not serve one kind as the other.
    with pytest.raises(WrongTokenType):
        codec.verify(reset)
    with pytest.raises(WrongTokenType):
        codec.verify(access, typ="reset+jwt")


# -- iss and aud ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://auth.example.com/",
        "https://auth.example.co",
        "https://AUTH.example.com",
        "https://auth.example.com.evil.example",
        "http",
        "https",
        "auth.example.com",
        " https://auth.example.com",
        "https://auth.example.com\u0000",
        "http://auth.example.com",
        ["https://auth.example.com"],
        {"iss": "https://auth.example.com"},
        1,
        "",
        None,
    ],
)
def test_issuer_tricks_are_rejected(iss: Any, hs: HMACKey) -> None:
    """RFC 9068 §4, CVE-2024-53861: exact equality, never containment or prefix."""
    with pytest.raises(InvalidClaim) as caught:
        codec_for(hs).verify(good(hs, iss=iss))
    assert caught.value.claim == "iss"


@pytest.mark.parametrize(
    "aud",
    [
        "service-b",
        "api2",
        "ap",
        "API",
        "api ",
        "",
        [],
        ["api2", "service-b"],
        [["api"]],
        {"a": 1},
        {"api": True},
        1,
        True,
        None,
        ["api", 1],
    ],
)
def test_audience_tricks_are_rejected(aud: Any, hs: HMACKey) -> None:
    """RFC 7519 §4.1.3, RFC 8725 §3.9, SECURITY.md A.3 #18."""
    with pytest.raises(InvalidClaim) as caught:
        codec_for(hs).verify(good(hs, aud=aud))
    assert caught.value.claim == "aud"


def test_audience_list_containing_ours_is_accepted(hs: HMACKey) -> None:
    assert codec_for(hs).verify(good(hs, aud=["other", "api"])).sub == "user-1"


# -- ordering and revocation ------------------------------------------------------------------


class _Denylist:
    def __init__(self, *jtis: str) -> None:
        self.jtis = set(jtis)
        self.calls = 0

    def is_revoked(self, token: VerifiedToken) -> bool:
        self.calls += 1
        return token.jti in self.jtis


def test_signature_is_checked_before_any_claim(keys: dict[str, Key]) -> None:
    """RFC 7519 §7.2, SECURITY.md A.2 #8: a bad signature wins over expired claims,
    and the revocation hook is never asked about an unverified token."""
    denylist = _Denylist()
    for key in keys.values():
        h, _, s = good(key).split(".")
        expired = b64(compact(claims(exp=NOW - 3600, iss="https://evil", sub="nobody")))
        with pytest.raises(BadSignature):
            codec_for(key, revocation=denylist).verify(f"{h}.{expired}.{s}")
    assert denylist.calls == 0


def test_es256_malleability_does_not_bypass_jti_denylist(keys: dict[str, Key]) -> None:
    """SECURITY.md A.4 #32: (r, n - s) is a second valid signature; the denylist is
    keyed by jti, so the respelled token is still revoked."""
    key = keys["ES256"]
    token = good(key, jti="revoked-jti")
    h, p, s = token.split(".")
    raw = unb64(s)
    r, s_int = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin = f"{h}.{p}.{b64(r.to_bytes(32, 'big') + (P256_ORDER - s_int).to_bytes(32, 'big'))}"
    assert twin != token
    # The twin signature is mathematically valid: without the denylist it verifies.
    assert codec_for(key).verify(twin).jti == "revoked-jti"
    denylist = _Denylist("revoked-jti")
    codec = codec_for(key, revocation=denylist, cache=VerifiedTokenCache())
    for candidate in (token, twin, token, twin):
        with pytest.raises(Revoked):
            codec.verify(candidate)
    # Each spelling is asked once; its verdict is then remembered (tokens/cache.py).
    assert denylist.calls == 2


class _CountingRing(KeyRing):
    """The real key ring, counting lookups (a spy, not a stand-in)."""

    lookups = 0

    def get(self, kid: str) -> Key | None:
        type(self).lookups += 1
        return super().get(kid)


def test_malformed_shapes_never_reach_the_key_lookup(keys: dict[str, Key]) -> None:
    """SECURITY.md A.1 #1: shape is checked before any key is looked up."""
    key = keys["ES256"]
    ring = _CountingRing([ManagedKey(key, KeyState.ACTIVE)])
    codec = TokenCodec(ring, issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(NOW))
    token = good(key)
    h, p, s = token.split(".")
    shapes = [
        token + "=",
        token + " ",
        f"{h}.{p}",
        f"{h}.{p}.{s}.{s}",
        f"{h}.{p}.{s}.{s}.{s}",
        json.dumps({"payload": p, "protected": h, "signature": s}),
        token + '{"payload":"' + p + '"}',
        token + "." * 1_000_000,
        f"{h}=.{p}.{s}",
        "",
    ]
    for shape in shapes:
        with pytest.raises((MalformedToken, UnsupportedToken)):
            codec.verify(shape)
    assert _CountingRing.lookups == 0
    assert codec.verify(token).sub == "user-1"
    assert _CountingRing.lookups == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"leeway": 61},
        {"leeway": -1},
        {"leeway": float("nan")},
        {"issuer": ""},
        {"audience": ""},
    ],
)
def test_unsafe_codec_configuration_is_refused(kwargs: dict[str, Any], hs: HMACKey) -> None:
    """Leeway is at most 60 s (SECURITY.md A.3 #15); issuer and audience are required."""
    from authgate.errors import ConfigError

    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **kwargs}
    with pytest.raises(ConfigError):
        TokenCodec(KeyRing.single(hs), **options)
    assert TokenCodec(KeyRing.single(hs), issuer=ISSUER, audience=AUDIENCE, leeway=60).leeway == 60
