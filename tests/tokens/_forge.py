"""Helpers to build tokens by hand, the way an attacker would: any header, any
payload bytes, signed with whatever key material the attack calls for."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from authgate.clock import FrozenClock
from authgate.tokens import KeyRing, TokenCodec
from authgate.tokens.keys import Key

ISSUER = "https://auth.example.com"
AUDIENCE = "api"
NOW = 1_800_000_000
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def claims(**changes: Any) -> dict[str, Any]:
    """A valid RFC 9068 claim set at NOW; a change to ``None`` removes the claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "jti-1",
        "client_id": "authgate",
        "scope": "read",
    }
    for name, value in changes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def header_for(key: Key, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
    for name, value in changes.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    return header


def sign_raw(key: Key, header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes) -> str:
    """Sign arbitrary header and payload bytes with ``key`` (no checks at all)."""
    h = header if isinstance(header, bytes) else compact(header)
    p = payload if isinstance(payload, bytes) else compact(payload)
    signing_input = f"{b64(h)}.{b64(p)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


def hmac_forge(
    secret: bytes, header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes
) -> str:
    """An HMAC token with any secret, even one authgate would refuse as a key."""
    h = header if isinstance(header, bytes) else compact(header)
    p = payload if isinstance(payload, bytes) else compact(payload)
    alg = json.loads(h).get("alg", "HS256")
    digest = _HMAC_HASHES.get(alg, hashlib.sha256)
    signing_input = f"{b64(h)}.{b64(p)}"
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(mac)}"


def codec_for(key: Key, clock: FrozenClock | None = None, **kw: Any) -> TokenCodec:
    return TokenCodec(
        KeyRing.single(key),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock or FrozenClock(NOW),
        **kw,
    )


def flip_unused_bits(segment: str) -> str:
    """The same bytes, spelled non-canonically: set the unused low bits of the
    last character (RFC 4648 §3.5)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rem = len(segment) % 4
    assert rem in (2, 3), "a segment without unused bits cannot be respelled"
    unused = 0x0F if rem == 2 else 0x03
    last = alphabet.index(segment[-1])
    respelled = segment[:-1] + alphabet[last | unused]
    assert unb64(respelled) == unb64(segment)
    return respelled


def verify_jws(codec: TokenCodec, token: Any) -> tuple[dict[str, Any], bytes, str]:
    """Steps 1–4 of the codec's verification order (shape, header, key, signature)
    for vectors whose payload is not a JWT claims set (RFC 7520, Wycheproof).

    No public path stops before the claims, on purpose (a caller could forget
    them): tests reach the codec's private step here, and only here.
    """
    header, payload, key = codec._check(token)
    return dict(header.params), payload, key.kid
