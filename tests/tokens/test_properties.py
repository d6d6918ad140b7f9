"""Property tests: any change to a valid token is rejected, and whatever comes in,
only a TokenError ever comes out (SECURITY.md A.1 #4)."""

from __future__ import annotations

import json
from typing import Any

from _forge import NOW, b64, claims, codec_for, compact, header_for, sign_raw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authgate.errors import TokenError
from authgate.tokens import VerifiedTokenCache, generate_key

KEYS = {alg: generate_key(alg) for alg in ("HS256", "ES256", "EdDSA")}
CODECS = {alg: codec_for(key, cache=VerifiedTokenCache()) for alg, key in KEYS.items()}
TOKENS = {alg: sign_raw(key, header_for(key), claims()) for alg, key in KEYS.items()}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rejected(alg: str, token: Any) -> bool:
    try:
        CODECS[alg].verify(token)
    except TokenError:
        return True
    return False


def test_the_unchanged_tokens_verify() -> None:
    for alg, token in TOKENS.items():
        assert CODECS[alg].verify(token).sub == "user-1"


@FAST
@given(alg=st.sampled_from(sorted(KEYS)), data=st.data())
def test_changing_any_byte_of_a_valid_token_makes_it_invalid(alg: str, data: st.DataObject) -> None:
    token = TOKENS[alg]
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    replacement = data.draw(
        st.integers(0, 255).filter(lambda b: b != ord(token[index])), label="byte"
    )
    changed = token[:index] + chr(replacement) + token[index + 1 :]
    assert _rejected(alg, changed)


@FAST
@given(alg=st.sampled_from(sorted(KEYS)), data=st.data())
def test_flipping_any_bit_of_a_valid_token_makes_it_invalid(alg: str, data: st.DataObject) -> None:
    token = TOKENS[alg].encode()
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    changed = bytearray(token)
    changed[index] ^= 1 << bit
    assert _rejected(alg, changed.decode("latin-1"))


@FAST
@given(raw=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_token_error(raw: bytes) -> None:
    for alg in KEYS:
        assert _rejected(alg, raw.decode("latin-1"))
        assert _rejected(alg, raw)  # not even a str


@FAST
@given(text=st.text(max_size=512))
def test_arbitrary_text_raises_only_token_error(text: str) -> None:
    assert _rejected("HS256", text)
    assert _rejected("EdDSA", text)


SEGMENT = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .", max_size=120
)


@FAST
@given(parts=st.lists(SEGMENT, min_size=1, max_size=6))
def test_arbitrary_dotted_segments_raise_only_token_error(parts: list[str]) -> None:
    assert _rejected("ES256", ".".join(parts))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@FAST
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "x"]), JSON, max_size=4),
    payload=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "iat", "nbf", "sub", "jti", "client_id", "scope"]),
        JSON,
        max_size=9,
    ),
)
def test_signed_garbage_claims_raise_only_token_error(
    header: dict[str, Any], payload: dict[str, Any]
) -> None:
    """Properly signed by our key, so every claim rule gets random input."""
    key = KEYS["HS256"]
    full_header = {**header_for(key), **header}
    full_payload = {**claims(), **payload}
    token = sign_raw(key, compact(full_header), json.dumps(full_payload).encode())
    try:
        verified = CODECS["HS256"].verify(token)
    except TokenError:
        return
    # Accepted: then every rule really held.
    assert full_header["alg"] == "HS256"
    assert verified.claims["iss"] == "https://auth.example.com"
    assert verified.exp + 30 > NOW


@FAST
@given(signature=st.binary(max_size=600))
def test_random_signatures_never_verify(signature: bytes) -> None:
    for alg, token in TOKENS.items():
        h, p, _ = token.split(".")
        assert _rejected(alg, f"{h}.{p}.{b64(signature)}")
