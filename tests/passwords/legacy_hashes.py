"""Password hashes made by other systems' OWN code (Django, Werkzeug, pyca/bcrypt,
argon2-cffi; passlib's made by passlib and stored), for the legacy-hash and import
tests. Cheap parameters where the library lets the caller choose, its defaults where
that is the point."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import argon2
import bcrypt
from werkzeug.security import generate_password_hash


def django_pbkdf2(password: str) -> str:
    from django.conf import settings  # type: ignore[import-untyped]

    if not settings.configured:  # the minimum Django needs to hash a password
        settings.configure(
            PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"],
            USE_TZ=True,
        )
    from django.contrib.auth.hashers import make_password  # type: ignore[import-untyped]

    made: str = make_password(password)
    return made


#: passlib 1.7.4's own ``pbkdf2_sha256.hash`` output, stored: passlib is kept out of
#: the test environment (SECURITY.md A.6 #46); tests/vectors/passlib/README.md.
_PASSLIB_VECTORS: dict[str, list[str]] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "passlib" / "pbkdf2_sha256.json").read_text(
        encoding="utf-8"
    )
)
_passlib_turn = itertools.count()


def passlib_pbkdf2(password: str) -> str:
    """A stored passlib hash of ``password`` (the next one in turn).

    Raises:
        LookupError: no stored hash for this password.
    """
    stored = _PASSLIB_VECTORS.get(password)
    if not stored:
        raise LookupError(
            f"no stored passlib pbkdf2_sha256 hash for {password!r}: passlib is not installed "
            "here; add one made as tests/vectors/passlib/README.md says"
        )
    return stored[next(_passlib_turn) % len(stored)]


def werkzeug_pbkdf2(password: str) -> str:
    return generate_password_hash(password, "pbkdf2:sha256")


def werkzeug_scrypt(password: str) -> str:
    return generate_password_hash(password, "scrypt")


def _bcrypt(prefix: bytes) -> Callable[[str], str]:
    def make(password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=prefix)).decode()

    return make


def bcrypt_2y(password: str) -> str:
    # pyca/bcrypt writes $2a$/$2b$ only; PHP's $2y$ is the same algorithm, and
    # pyca/bcrypt verifies it: the test checks that first (test_legacy_hashes).
    made = _bcrypt(b"2b")(password)
    return "$2y$" + made[4:]


def _argon2(kind: argon2.Type, time_cost: int, memory_kib: int, lanes: int) -> Callable[[str], str]:
    def make(password: str) -> str:
        hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=lanes, type=kind
        )
        return hasher.hash(password)

    return make


#: name -> (make(password) -> stored hash)
MAKERS: dict[str, Callable[[str], str]] = {
    "django-pbkdf2_sha256": django_pbkdf2,
    "werkzeug-pbkdf2:sha256": werkzeug_pbkdf2,
    "werkzeug-scrypt": werkzeug_scrypt,
    "passlib-pbkdf2_sha256": passlib_pbkdf2,
    "bcrypt-2a": _bcrypt(b"2a"),
    "bcrypt-2b": _bcrypt(b"2b"),
    "bcrypt-2y": bcrypt_2y,
    # argon2-cffi's defaults (what pwdlib and fastapi-users write), and others.
    "argon2id-argon2-cffi-defaults": _argon2(argon2.Type.ID, 3, 65536, 4),
    "argon2i-small": _argon2(argon2.Type.I, 1, 8192, 2),
    "argon2d": _argon2(argon2.Type.D, 2, 16384, 1),
}
