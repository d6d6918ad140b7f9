"""The public surface of authgate.passwords, and its place in the layers (ARCHITECTURE.md)."""

from __future__ import annotations

import subprocess
import sys

import authgate.passwords


def test_public_names_are_listed() -> None:
    assert sorted(authgate.passwords.__all__) == [
        "BCRYPT_MAX_BYTES",
        "HASH_LIMITS",
        "MalformedHash",
        "PasswordHasher",
        "describe_hash",
        "normalize",
    ]
    for name in authgate.passwords.__all__:
        assert hasattr(authgate.passwords, name)


def imported_after(module: str, watch: tuple[str, ...]) -> list[str]:
    code = f"import sys, {module}\nprint(','.join(m for m in {watch!r} if m in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_passwords_import_no_web_sql_or_redis_library() -> None:
    watch = ("fastapi", "starlette", "sqlalchemy", "redis")
    assert imported_after("authgate.passwords", watch) == []


def test_throttle_imports_no_web_framework() -> None:
    assert imported_after("authgate.service.throttle", ("fastapi", "starlette")) == []
