"""SECURITY.md A.6 #46: the environment authgate runs and is tested in holds no JWT
or crypto library with known unpatched flaws, and none below its security floor.

* python-jose: algorithm confusion and a JWE decompression bomb (CVE-2024-33663,
  CVE-2024-33664), barely maintained; passlib: unmaintained, breaks on current bcrypt;
  ecdsa: pure-Python ECDSA with a timing side channel its authors will not fix
  (Minerva, CVE-2024-23342).
* PyJWT 2.10.0 compared ``iss`` partially (CVE-2024-53861); the project asks for
  ≥ 2.13 (dev extra, used only as a differential oracle in tests), checked when present.
* cryptography ≥ 44, the runtime floor in pyproject.toml.
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest

FLOORS = {"cryptography": (44,), "pyjwt": (2, 13, 0)}
FORBIDDEN = ["python-jose", "passlib", "ecdsa"]


def release(version: str) -> tuple[int, ...]:
    """The numeric release part of a PEP 440 version: ``"2.15.1"`` → ``(2, 15, 1)``."""
    found = re.match(r"\d+(?:\.\d+)*", version)
    assert found is not None, version
    return tuple(int(part) for part in found.group().split("."))


def test_release_parsing_orders_versions_numerically() -> None:
    assert release("2.13.0") >= (2, 13, 0)
    assert release("2.9.0") < (2, 13, 0)  # not a string comparison
    assert release("44.0.0rc1") >= (44,)
    assert release("43.0.3") < (44,)


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_installed_security_dependencies_meet_their_floor(name: str) -> None:
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        if name == "cryptography":  # a runtime dependency: must be there
            raise
        pytest.skip(f"{name} is not installed")
    assert release(version) >= FLOORS[name], f"{name} {version} is below {FLOORS[name]}"


@pytest.mark.parametrize("name", FORBIDDEN)
def test_known_vulnerable_libraries_are_not_installed(name: str) -> None:
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version(name)
