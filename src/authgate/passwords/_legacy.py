"""Hashes written by other systems, kept at import and verified at the next login
(then rehashed to Argon2id by :class:`~authgate.passwords.PasswordHasher`).

Formats (the password is checked as typed, UTF-8: none of these normalised it):

* passlib ``$pbkdf2-sha256$<rounds>$<salt>$<hash>`` (passlib's adapted base64:
  ``.`` for ``+``, no padding);
* Django ``pbkdf2_sha256$<iterations>$<salt>$<base64 hash>``;
* Werkzeug ``pbkdf2:sha256:<iterations>$<salt>$<hex hash>`` and
  ``scrypt:<n>:<r>:<p>$<salt>$<hex hash>``;
* Argon2 (any variant) and bcrypt are pwdlib's; :func:`describe` bounds their
  parameters too.

**Bounds** (:data:`LIMITS`). A stored hash chooses its own cost, and every login
pays it in one of the hasher's few worker threads. So a hash is refused at import,
and treated as malformed at login, when its cost is absurd: PBKDF2 over 3,000,000
iterations (Django 5.2 writes 1,000,000, 6.0 1,200,000, Werkzeug 1,000,000), scrypt
over 64 MiB of memory (``128·n·r``; Werkzeug writes 32 MiB) or over ``n·r·p = 2^20``,
bcrypt over cost 14, Argon2 over 128 MiB, ``t = 10`` or ``p = 16`` (argon2-cffi and
pwdlib write 64 MiB, t = 3, p = 4). Each bound is a few times what those libraries
write today, and keeps one verification within a couple of seconds on one core (the
measured costs are in BENCHMARKS.md).

Comparison is :func:`hmac.compare_digest` (constant time in the digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

__all__ = ["LIMITS", "LegacyHash", "MalformedHash", "describe", "parse", "verify"]


class MalformedHash(ValueError):
    """A stored hash of a known format that does not decode or is out of bounds."""


@dataclass(frozen=True, slots=True)
class _Limits:
    pbkdf2_max_iterations: int = 3_000_000
    scrypt_max_memory: int = 64 * 1024 * 1024
    scrypt_max_work: int = 1 << 20
    bcrypt_max_cost: int = 14
    argon2_max_memory_kib: int = 128 * 1024
    argon2_max_time_cost: int = 10
    argon2_max_parallelism: int = 16
    max_salt_bytes: int = 128
    min_digest_bytes: int = 16
    max_digest_bytes: int = 128


LIMITS = _Limits()


@dataclass(frozen=True, slots=True)
class LegacyHash:
    """A decoded PBKDF2-SHA256 or scrypt hash (``kind`` names the format)."""

    kind: str
    salt: bytes
    digest: bytes
    iterations: int = 0
    n: int = 0
    r: int = 0
    p: int = 0


_NUM = r"(0|[1-9][0-9]{0,9})"
_PASSLIB = re.compile(rf"\$pbkdf2-sha256\${_NUM}\$([./A-Za-z0-9]*)\$([./A-Za-z0-9]+)")
_DJANGO = re.compile(rf"pbkdf2_sha256\${_NUM}\$([^$]*)\$([+/A-Za-z0-9]+={{0,2}})")
_WERKZEUG_PBKDF2 = re.compile(rf"pbkdf2:sha256:{_NUM}\$([^$]*)\$([0-9a-f]+)")
_WERKZEUG_SCRYPT = re.compile(rf"scrypt:{_NUM}:{_NUM}:{_NUM}\$([^$]*)\$([0-9a-f]+)")
_ARGON2 = re.compile(
    r"\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,10})"
    r"\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}"
)
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_PREFIXES = ("$pbkdf2-sha256$", "pbkdf2_sha256$", "pbkdf2:sha256:", "scrypt:")


def _ab64(text: str) -> bytes:
    """passlib's adapted base64: ``.`` stands for ``+``, padding dropped."""
    try:
        return base64.b64decode(text.replace(".", "+") + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise MalformedHash("bad base64") from exc


def _checked(found: LegacyHash) -> LegacyHash:
    if not 0 < len(found.salt) <= LIMITS.max_salt_bytes:
        raise MalformedHash("salt empty or too long")
    if not LIMITS.min_digest_bytes <= len(found.digest) <= LIMITS.max_digest_bytes:
        raise MalformedHash("digest of unusual length")
    if found.kind == "scrypt":
        n, r, p = found.n, found.r, found.p
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            raise MalformedHash("scrypt n must be a power of two above 1, r and p positive")
        if 128 * n * r > LIMITS.scrypt_max_memory or n * r * p > LIMITS.scrypt_max_work:
            raise MalformedHash("scrypt parameters above the import bounds")
    elif not 1 <= found.iterations <= LIMITS.pbkdf2_max_iterations:
        raise MalformedHash(f"iterations outside 1..{LIMITS.pbkdf2_max_iterations}")
    return found


def parse(stored: str) -> LegacyHash | None:
    """The PBKDF2/scrypt hash in ``stored``, or None when it is none of these formats.

    Raises:
        MalformedHash: one of these formats, but it does not decode or is out of bounds.
    """
    if not stored.startswith(_PREFIXES):
        return None
    if m := _PASSLIB.fullmatch(stored):
        found = LegacyHash("passlib", _ab64(m[2]), _ab64(m[3]), iterations=int(m[1]))
    elif m := _DJANGO.fullmatch(stored):
        try:
            digest = base64.b64decode(m[3], validate=True)
        except binascii.Error as exc:
            raise MalformedHash("bad base64") from exc
        found = LegacyHash("django", m[2].encode(), digest, iterations=int(m[1]))
    elif m := _WERKZEUG_PBKDF2.fullmatch(stored):
        found = LegacyHash("werkzeug", m[2].encode(), _hex(m[3]), iterations=int(m[1]))
    elif m := _WERKZEUG_SCRYPT.fullmatch(stored):
        n, r, p = int(m[1]), int(m[2]), int(m[3])
        found = LegacyHash("scrypt", m[4].encode(), _hex(m[5]), n=n, r=r, p=p)
    else:
        raise MalformedHash("does not decode")
    return _checked(found)


def _hex(text: str) -> bytes:
    if len(text) % 2:
        raise MalformedHash("odd-length hex digest")
    return bytes.fromhex(text)


def verify(password: str, found: LegacyHash) -> bool:
    """Recompute the digest for ``password`` and compare in constant time. Blocking:
    call it from a worker thread."""
    secret = password.encode("utf-8")
    if found.kind == "scrypt":
        memory = 128 * found.n * found.r * (found.p + 1) + (1 << 20)
        computed = hashlib.scrypt(
            secret,
            salt=found.salt,
            n=found.n,
            r=found.r,
            p=found.p,
            maxmem=memory,
            dklen=len(found.digest),
        )
    else:
        computed = hashlib.pbkdf2_hmac(
            "sha256", secret, found.salt, found.iterations, dklen=len(found.digest)
        )
    return hmac.compare_digest(computed, found.digest)


def describe(stored: object, *, own_argon2: tuple[int, int, int] = (0, 0, 0)) -> str:
    """The format of a hash to import (``argon2``, ``bcrypt``, ``passlib``, ``django``,
    ``werkzeug``, ``scrypt``), after checking its parameters against :data:`LIMITS`.
    ``own_argon2`` (m, t, p) raises the Argon2 bounds to authgate's own parameters,
    so a server configured above them still accepts its own hashes.

    Raises:
        MalformedHash: an unknown format, or a known one that does not decode or
            whose cost is out of bounds (the reason says which).
    """
    if not isinstance(stored, str) or not stored:
        raise MalformedHash("password_hash is missing")
    if len(stored) > 1024:
        raise MalformedHash("password_hash is too long")
    if m := _ARGON2.fullmatch(stored):
        memory, time_cost, lanes = int(m[1]), int(m[2]), int(m[3])
        if (
            memory > max(LIMITS.argon2_max_memory_kib, own_argon2[0])
            or time_cost > max(LIMITS.argon2_max_time_cost, own_argon2[1])
            or lanes > max(LIMITS.argon2_max_parallelism, own_argon2[2])
        ):
            raise MalformedHash("argon2 parameters above the import bounds")
        return "argon2"
    if m := _BCRYPT.fullmatch(stored):
        if not 4 <= int(m[1]) <= LIMITS.bcrypt_max_cost:
            raise MalformedHash(f"bcrypt cost outside 4..{LIMITS.bcrypt_max_cost}")
        return "bcrypt"
    found = parse(stored)
    if found is None:
        raise MalformedHash("unknown password hash format")
    return found.kind
