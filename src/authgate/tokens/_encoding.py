"""Strict base64url and JSON, the two encodings a compact JWS is made of.

RFC 7515 §2 and §C: base64url without padding. We accept only the canonical
form (no ``=``, no ``+``/``/``, no whitespace, unused trailing bits zero), so a
token has exactly one spelling and cannot be made malleable (SECURITY.md A.1 #2).

RFC 7515 §4 / RFC 7519 §4: duplicate member names are rejected, never resolved
to the last one; RFC 8725 §3.7 and RFC 8259 §6: NaN/Infinity and numbers that
overflow a double are rejected; nesting is bounded.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import orjson

from authgate.errors import MalformedToken

__all__ = ["MAX_DEPTH", "b64url_decode", "b64url_encode", "dumps", "loads_object"]

MAX_DEPTH = 32

_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_URLSAFE = bytes.maketrans(b"-_", b"+/")
# Canonical final characters: with 2 (resp. 3) significant chars in the last
# quantum, the last char encodes 2 (resp. 4) zero bits. Index into the alphabet.
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_WS_BEFORE_COLON = re.compile(rb'"[ \t\n\r]+:')


def b64url_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(segment: bytes) -> bytes:
    """Decode canonical, unpadded base64url.

    Raises:
        MalformedToken: anything but the one canonical spelling.
    """
    n = len(segment)
    rem = n % 4
    if rem == 1 or _B64URL.fullmatch(segment) is None:
        raise MalformedToken("not canonical base64url")
    if rem:
        last = _INDEX[segment[-1]]
        # rem 2 → last char carries 4 unused bits; rem 3 → 2 unused bits.
        if last & (0x0F if rem == 2 else 0x03):
            raise MalformedToken("non-zero trailing bits in base64url")
        segment += b"=" * (4 - rem)
    try:
        return binascii.a2b_base64(segment.translate(_URLSAFE), strict_mode=True)
    except binascii.Error as exc:  # pragma: no cover - the regex already excludes this
        raise MalformedToken("not canonical base64url") from exc


def dumps(obj: Any) -> bytes:
    """Compact JSON as authgate emits it (no whitespace, UTF-8)."""
    return orjson.dumps(obj)


def _count_members(value: Any, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise MalformedToken("JSON nested too deeply")
    if type(value) is dict:
        n = len(value)
        for v in value.values():
            if type(v) is dict or type(v) is list:
                n += _count_members(v, depth + 1)
        return n
    n = 0
    for v in value:
        if type(v) is dict or type(v) is list:
            n += _count_members(v, depth + 1)
    return n


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedToken("duplicate JSON member name")
    return obj


def _reject_constant(name: str) -> Any:
    raise MalformedToken(f"{name} is not allowed in JSON")


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def loads_object(raw: bytes) -> dict[str, Any]:
    """Parse a JOSE header or JWT claims set: a UTF-8 JSON object, strictly.

    Raises:
        MalformedToken: not UTF-8, not JSON, not an object, duplicate member
            names, NaN/Infinity/overflowing numbers, or nesting over MAX_DEPTH.
    """
    try:
        obj = orjson.loads(raw)  # rejects bad UTF-8, NaN, Infinity, 1e400
    except (orjson.JSONDecodeError, RecursionError) as exc:
        raise MalformedToken("not valid UTF-8 JSON") from exc
    if type(obj) is not dict:
        raise MalformedToken("not a JSON object")
    members = _count_members(obj, 1)
    if b"\\" not in raw and _WS_BEFORE_COLON.search(raw) is None:
        # Without escapes or whitespace before a colon, every '":' closes a
        # member name: the raw member count is exact and cheap to take.
        if raw.count(b'":') != members:
            raise MalformedToken("duplicate JSON member name")
        return obj
    try:
        _STRICT.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # MalformedToken from the hooks passes through
        raise MalformedToken("not valid JSON") from exc
    return obj
