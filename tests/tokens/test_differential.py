"""Differential tests against two independent JOSE libraries, PyJWT and joserfc:
they verify every token authgate issues, and every attack token that either of
them rejects, authgate rejects too."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
import pytest
from _forge import (
    AUDIENCE,
    ISSUER,
    P256_ORDER,
    b64,
    claims,
    compact,
    flip_unused_bits,
    header_for,
    hmac_forge,
    sign_raw,
)
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as jose_jwt
from joserfc.jwk import import_key

from authgate.clock import FrozenClock, SystemClock
from authgate.errors import TokenError
from authgate.tokens import SUPPORTED_ALGORITHMS, KeyRing, TokenCodec, generate_key
from authgate.tokens.keys import Key


def _pyjwt_key(key: Key) -> Any:
    if key.symmetric:
        return key._secret  # type: ignore[attr-defined]
    return key._public  # type: ignore[attr-defined]


def pyjwt_verify(token: str, key: Key, now: float | None = None) -> dict[str, Any]:
    options: Any = {"require": ["exp", "iat", "sub", "jti", "iss", "aud"]}
    leeway = 0.0
    if now is not None:
        # PyJWT reads the wall clock. A leeway of (wall clock - now) moves its exp
        # check to our "now" (expired iff exp <= wall - leeway); iat and nbf are
        # checked the other way round, so the harness checks those itself.
        leeway = time.time() - now
        options.update(verify_iat=False, verify_nbf=False)
    result: dict[str, Any] = pyjwt.decode(
        token,
        key=_pyjwt_key(key),
        algorithms=[key.alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=leeway,
        options=options,
    )
    if now is not None:
        for claim in ("iat", "nbf"):
            value = result.get(claim, now)
            if type(value) not in (int, float) or value > now:
                raise pyjwt.ImmatureSignatureError(claim)
    return result


def joserfc_verify(token: str, key: Key, now: float | None = None) -> dict[str, Any]:
    material: dict[str, Any] = key.private_jwk() if key.symmetric else key.public_jwk()
    jwk = import_key(material)
    decoded = jose_jwt.decode(token, jwk, algorithms=[key.alg])
    registry = jose_jwt.JWTClaimsRegistry(
        now=int(now) if now is not None else None,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # joserfc prefers "Ed25519" (RFC 9864)
@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_pyjwt_and_joserfc_verify_every_token_we_issue(alg: str) -> None:
    key = generate_key(alg)
    codec = TokenCodec(KeyRing.single(key), issuer=ISSUER, audience=AUDIENCE, clock=SystemClock())
    for sid in (None, "session-1"):
        token, issued = codec.issue(sub="user-1", ttl=900, client_id="c", scope={"a", "b"}, sid=sid)
        if alg == "Ed25519":
            # PyJWT lacks RFC 9864's name (so "EdDSA" stays the default); joserfc has it.
            with pytest.raises(pyjwt.InvalidAlgorithmError):
                pyjwt_verify(token, key)
        else:
            assert pyjwt_verify(token, key) == issued
        assert joserfc_verify(token, key) == issued
        assert pyjwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
        assert dict(codec.verify(token).claims) == issued


def _attacks(key: Key) -> dict[str, str]:
    """Attack tokens against ``key`` at the frozen NOW."""
    good = sign_raw(key, header_for(key), claims())
    h, p, s = good.split(".")
    attacker = generate_key(key.alg)
    public_pem = (
        b""
        if key.symmetric
        else key._public.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    tokens = {
        "alg_none": f"{b64(compact({'alg': 'none', 'typ': 'at+jwt'}))}.{p}.",
        "alg_None_signed": f"{b64(compact({'alg': 'None', 'kid': key.kid}))}.{p}.{s}",
        "signature_stripped": f"{h}.{p}.",
        "payload_tampered": f"{h}.{b64(compact(claims(sub='admin')))}.{s}",
        "foreign_key": sign_raw(attacker, header_for(key), claims()),
        "embedded_jwk": (
            sign_raw(attacker, header_for(key, jwk=attacker.public_jwk()), claims())
            if not key.symmetric
            else sign_raw(attacker, header_for(key, jwk={"kty": "oct"}), claims())
        ),
        "jku": sign_raw(key, header_for(key, jku="http://127.0.0.1:9/jwks"), claims()),
        "x5u": sign_raw(key, header_for(key, x5u="http://127.0.0.1:9/cert"), claims()),
        "crit_unknown": sign_raw(key, header_for(key, crit=["x"], x=1), claims()),
        "crit_empty": sign_raw(key, header_for(key, crit=[]), claims()),
        "b64_false": sign_raw(key, header_for(key, b64=False, crit=["b64"]), claims()),
        "cty_jwt": sign_raw(key, header_for(key, cty="JWT"), claims()),
        "sig_padded": f"{h}.{p}.{s}=",
        "zero_signature": f"{h}.{p}.{b64(bytes(64))}",
        "exp_string": sign_raw(key, header_for(key), claims(exp="9999999999")),
        "exp_true": sign_raw(key, header_for(key), claims(exp=True)),
        "exp_missing": sign_raw(key, header_for(key), claims(exp=None)),
        "exp_past": sign_raw(key, header_for(key), claims(exp=1_000)),
        "exp_nan": sign_raw(key, header_for(key), compact(claims(exp=None))[:-1] + b',"exp":NaN}'),
        "exp_1e400": sign_raw(
            key, header_for(key), compact(claims(exp=None))[:-1] + b',"exp":1e400}'
        ),
        "sub_duplicate": sign_raw(
            key, header_for(key), compact(claims())[:-1] + b',"sub":"admin"}'
        ),
        "alg_duplicate": sign_raw(
            key,
            b'{"alg":"none","alg":"' + key.alg.encode() + b'","kid":"' + key.kid.encode() + b'"}',
            claims(),
        ),
        "invalid_utf8": sign_raw(key, header_for(key), compact(claims())[:-1] + b',"n":"\xff"}'),
        "payload_array": sign_raw(key, header_for(key), b"[1,2]"),
        "iss_prefix": sign_raw(key, header_for(key), claims(iss=ISSUER + "/")),
        "iss_list": sign_raw(key, header_for(key), claims(iss=[ISSUER])),
        "aud_other": sign_raw(key, header_for(key), claims(aud="api2")),
        "aud_empty_list": sign_raw(key, header_for(key), claims(aud=[])),
        "aud_missing": sign_raw(key, header_for(key), claims(aud=None)),
        "typ_jwt": sign_raw(key, header_for(key, typ="JWT"), claims()),
        "jwe": f"{h}.{p}.{b64(b'iv')}.{b64(b'ct')}.{s}",
        "json_serialization": json.dumps({"protected": h, "payload": p, "signature": s}),
        "nested_header": sign_raw(
            key,
            b'{"alg":"' + key.alg.encode() + b'","x":' + b"[" * 2000 + b"]" * 2000 + b"}",
            claims(),
        ),
    }
    if len(s) % 4:
        tokens["sig_unused_bits"] = f"{h}.{p}.{flip_unused_bits(s)}"
    if "-" in s or "_" in s:
        tokens["sig_std_alphabet"] = f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}"
    if not key.symmetric:
        tokens["hs256_with_public_pem"] = hmac_forge(
            public_pem, {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}, claims()
        )
    if key.alg == "ES256":
        tokens["ecdsa_r_s_zero"] = f"{h}.{p}.{b64(bytes(64))}"
        n = P256_ORDER.to_bytes(32, "big")
        tokens["ecdsa_r_s_n"] = f"{h}.{p}.{b64(n + n)}"
    return tokens


def _rejects(verify: Callable[[str, Key, float], Any], token: str, key: Key) -> bool:
    try:
        verify(token, key, 1_800_000_000)
    except Exception:
        return True
    return False


@pytest.mark.filterwarnings("ignore::UserWarning")  # libraries warn about odd headers
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256", "HS256"])
def test_every_attack_another_library_rejects_we_reject(alg: str) -> None:
    key = generate_key(alg)
    codec = TokenCodec(
        KeyRing.single(key), issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock(1_800_000_000)
    )
    valid = sign_raw(key, header_for(key), claims())
    # The harness is sound: both libraries accept a valid token at the frozen clock.
    assert not _rejects(pyjwt_verify, valid, key)
    assert not _rejects(joserfc_verify, valid, key)
    accepted_by_others: list[str] = []
    for name, token in _attacks(key).items():
        others = (_rejects(pyjwt_verify, token, key), _rejects(joserfc_verify, token, key))
        if not all(others):
            accepted_by_others.append(name)
        with pytest.raises(TokenError):
            codec.verify(token)
    # Observed with PyJWT 2.15.1 and joserfc 1.8.0: both accept jku, x5u, cty JWT,
    # duplicate member names (even a duplicate "alg" whose first value is "none")
    # and typ JWT; joserfc accepts crit [] and padded HMAC signatures. authgate
    # rejects all of them (SECURITY.md A.1 #3, A.2 #12-#14, A.3 #19).
    assert len(accepted_by_others) < len(_attacks(key))
