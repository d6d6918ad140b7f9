"""Hashes made by other systems' own code verify, upgrade to Argon2id, refuse wrong
passwords and tampering, and are bounded in cost (SECURITY.md A.7 #54; the import
side is in tests/imports)."""

from __future__ import annotations

import re

import bcrypt
import pytest

from authgate.passwords import PasswordHasher
from authgate.passwords._cover import CostCover, profile_of
from authgate.passwords._legacy import LIMITS, MalformedHash, describe
from authgate.settings import PasswordSettings
from passwords.legacy_hashes import MAKERS, passlib_pbkdf2

PASSWORD = "wobbly-lantern-orchid-73"
OWN = re.compile(r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$")
KINDS = {
    "django-pbkdf2_sha256": "django",
    "werkzeug-pbkdf2:sha256": "werkzeug",
    "werkzeug-scrypt": "scrypt",
    "passlib-pbkdf2_sha256": "passlib",
    "bcrypt-2a": "bcrypt",
    "bcrypt-2b": "bcrypt",
    "bcrypt-2y": "bcrypt",
    "argon2id-argon2-cffi-defaults": "argon2",
    "argon2i-small": "argon2",
    "argon2d": "argon2",
}


@pytest.fixture(scope="module")
def made() -> dict[str, str]:
    return {name: make(PASSWORD) for name, make in MAKERS.items()}


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(PasswordSettings())


def tamper(stored: str) -> str:
    """Change one character inside the digest (5th from the end: every format's
    digest is longer, and its last character may carry only base64 padding bits)."""
    i = len(stored) - 5
    return stored[:i] + ("1" if stored[i] == "0" else "0") + stored[i + 1 :]


def test_php_2y_prefix_is_the_same_bcrypt_to_pyca(made: dict[str, str]) -> None:
    stored = made["bcrypt-2y"]
    assert stored.startswith("$2y$04$")
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())


@pytest.mark.anyio
async def test_every_stored_passlib_hash_verifies_with_its_password_only(
    hasher: PasswordHasher,
) -> None:
    for password in (PASSWORD, "Ünïcødé-pässwörd-✓"):
        seen = {passlib_pbkdf2(password) for _ in range(6)}
        assert len(seen) == (3 if password == PASSWORD else 1)
        for stored in seen:
            assert (await hasher.verify(password, stored))[0] is True
            assert await hasher.verify(password + "x", stored) == (False, None)


def test_the_passlib_maker_refuses_a_password_it_has_no_stored_hash_for() -> None:
    with pytest.raises(LookupError, match="no stored passlib"):
        passlib_pbkdf2("some-other-password-1")


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_hash_made_by_its_own_library_is_recognised_at_import(
    name: str, made: dict[str, str]
) -> None:
    assert describe(made[name]) == KINDS[name]


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(MAKERS))
async def test_a_foreign_hash_verifies_and_is_upgraded_to_argon2id(
    name: str, made: dict[str, str], hasher: PasswordHasher
) -> None:
    ok, new_hash = await hasher.verify(PASSWORD, made[name])
    assert ok
    assert new_hash is not None
    assert OWN.match(new_hash), new_hash
    assert await hasher.verify(PASSWORD, new_hash) == (True, None)


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(MAKERS))
async def test_a_wrong_password_or_a_tampered_foreign_hash_is_refused(
    name: str, made: dict[str, str], hasher: PasswordHasher
) -> None:
    stored = made[name]
    assert await hasher.verify(PASSWORD + "!", stored) == (False, None)
    assert await hasher.verify(PASSWORD.upper(), stored) == (False, None)
    assert await hasher.verify(PASSWORD, tamper(stored)) == (False, None)


ABSURD = {
    "pbkdf2 iterations": f"pbkdf2_sha256${LIMITS.pbkdf2_max_iterations + 1}$salt$" + "A" * 43 + "=",
    "passlib iterations": "$pbkdf2-sha256$2000000000$c2FsdA$" + "A" * 43,
    "werkzeug iterations": "pbkdf2:sha256:900000000$salt$" + "ab" * 32,
    "scrypt memory": "scrypt:1048576:8:1$salt$" + "ab" * 64,
    "scrypt work": "scrypt:16384:8:16$salt$" + "ab" * 64,
    "scrypt n not a power of two": "scrypt:1000:8:1$salt$" + "ab" * 64,
    "bcrypt cost": "$2b$20$" + "a" * 53,
    "argon2 memory": "$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHRzYWx0$" + "A" * 43,
    "argon2 time": "$argon2i$v=19$m=65536,t=1000,p=4$c2FsdHNhbHRzYWx0$" + "A" * 43,
}
UNKNOWN = {
    "md5 hex": "5f4dcc3b5aa765d61d8327deb882cf99",
    "plain text": "hunter2",
    "md5-crypt": "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
    "sha512-crypt": "$6$rounds=5000$salt$" + "a" * 86,
    "django md5": "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
    "werkzeug sha512": "pbkdf2:sha512:600000$salt$" + "ab" * 64,
    "empty": "",
}


@pytest.mark.parametrize("stored", ABSURD.values(), ids=list(ABSURD))
def test_absurd_costs_are_refused_at_import(stored: str) -> None:
    with pytest.raises(MalformedHash, match=r"bound|outside|power of two"):
        describe(stored)


@pytest.mark.parametrize("stored", UNKNOWN.values(), ids=list(UNKNOWN))
def test_an_unknown_format_is_refused_at_import(stored: str) -> None:
    with pytest.raises(MalformedHash, match=r"unknown password hash format|missing|decode"):
        describe(stored)


@pytest.mark.anyio
@pytest.mark.parametrize("stored", ABSURD.values(), ids=list(ABSURD))
async def test_an_absurd_cost_written_straight_into_the_database_never_runs(
    stored: str, hasher: PasswordHasher
) -> None:
    # A row that bypassed the import: the login spends one ordinary verification
    # and fails, instead of pinning a worker thread (or its memory) on the hash.
    assert await hasher.verify(PASSWORD, stored) == (False, None)


def test_each_format_has_a_cost_profile_and_authgates_own_is_not_covered(
    made: dict[str, str], hasher: PasswordHasher
) -> None:
    profiles = {name: profile_of(stored) for name, stored in made.items()}
    assert profiles["django-pbkdf2_sha256"] == "pbkdf2_sha256$1000000"
    assert profiles["werkzeug-scrypt"] == "scrypt:32768:8:1"
    assert profiles["bcrypt-2y"] == "$2y$04"
    assert profiles["argon2id-argon2-cffi-defaults"] == "$argon2id$v=19$m=65536,t=3,p=4"
    assert profile_of("5f4dcc3b5aa765d61d8327deb882cf99") is None
    cover = CostCover(hasher.own_prefix[:-1])
    for stored in made.values():
        cover.add(stored)
    cover.add(made["bcrypt-2b"].replace("$2b$04$", "$2b$04$" + "x", 1)[:-1])  # same profile
    picks = {cover.pick(f"name-{i}") for i in range(400)}
    # Every profile is picked for some names, and the Argon2id dummy (None) too.
    assert picks == {*made.values(), None}
    assert cover.pick("name-1") == cover.pick("name-1")
    own = CostCover(hasher.own_prefix[:-1])
    own.add(hasher.own_prefix + "c2FsdHNhbHRzYWx0$" + "A" * 43)
    assert own.pick("anyone") is None
