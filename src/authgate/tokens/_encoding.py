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
from typing import Any

import orjson

from authgate.errors import MalformedToken

__all__ = ["MAX_DEPTH", "b64url_decode", "b64url_encode", "dumps", "loads_object"]

MAX_DEPTH = 32

# One translation does both jobs: base64url → standard alphabet, and every byte
# outside the base64url alphabet (including "+", "/", "=", whitespace) → "!",
# which ``a2b_base64(strict_mode=True)`` refuses.
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STD = bytes(
    (b"+" if c == 0x2D else b"/" if c == 0x5F else bytes([c]) if c in _ALPHABET else b"!")[0]
    for c in range(256)
)
# Canonical final characters (RFC 4648 §3.5): with 2 (resp. 3) significant chars
# in the last quantum, the last char carries 4 (resp. 2) unused bits, all zero.
_LAST_OK_REM2 = frozenset(c for i, c in enumerate(_ALPHABET) if not i & 0x0F)
_LAST_OK_REM3 = frozenset(c for i, c in enumerate(_ALPHABET) if not i & 0x03)
_PAD = (b"", b"", b"==", b"=")


def b64url_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def b64url_decode(segment: bytes) -> bytes:
    """Decode canonical, unpadded base64url.

    Raises:
        MalformedToken: anything but the one canonical spelling.
    """
    rem = len(segment) & 3
    if rem:
        if rem == 1:
            raise MalformedToken("not canonical base64url")
        if segment[-1] not in (_LAST_OK_REM2 if rem == 2 else _LAST_OK_REM3):
            raise MalformedToken("non-canonical base64url (unused trailing bits)")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STD) + _PAD[rem], strict_mode=True)
    except binascii.Error as exc:
        raise MalformedToken("not canonical base64url") from exc


def dumps(obj: Any) -> bytes:
    """Compact JSON as authgate emits it (no whitespace, UTF-8)."""
    return orjson.dumps(obj)


def _count_strings(value: Any, depth: int) -> int:
    """Member names plus string values in a parsed JSON container, recursively."""
    if depth > MAX_DEPTH:
        raise MalformedToken("JSON nested too deeply")
    if type(value) is dict:
        n = len(value)
        values: Any = value.values()
    else:
        n = 0
        values = value
    for v in values:
        t = type(v)
        if t is str:
            n += 1
        elif t is dict or t is list:
            n += _count_strings(v, depth + 1)
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
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH and orjson.dumps(obj) == raw:
        # The text is exactly what authgate emits for this object (compact, no
        # escapes): it has no repeated names, since re-serializing the parsed
        # object writes each name once, and it cannot nest deeper than the
        # number of brackets it contains.
        return obj
    strings = _count_strings(obj, 1)
    if b"\\" not in raw:
        # Without escapes every '"' delimits a string, and every member name and
        # string value of the text survives parsing unless a name is repeated
        # (orjson keeps the last one and drops the others with their values). So
        # the text has exactly two quotes per parsed string iff no name repeats.
        if raw.count(b'"') != 2 * strings:
            raise MalformedToken("duplicate JSON member name")
        return obj
    try:
        _STRICT.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # MalformedToken from the hooks passes through
        raise MalformedToken("not valid JSON") from exc
    return obj
