"""Which new passwords are accepted (SECURITY.md A.5 #35, #36; NIST SP 800-63B §5.1.1.2).

The rules other than the length are the same for every account; they are shown here
at the 8-character minimum of an account with a second factor (NIST SP 800-63B-4
§3.1.1.2), and the 15-character single-factor minimum has its own tests below."""

from __future__ import annotations

import pytest

from authgate.errors import PasswordRejected
from authgate.passwords import PasswordHasher
from authgate.settings import PasswordSettings

POLICY = PasswordHasher(PasswordSettings())


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("", None, "too short"),
        ("x7#Qp2", None, "too short"),
        ("k9#Lm2$", None, "too short"),
        ("a" * 1025, None, "too long"),
        ("Password1!", None, "guess"),
        ("123456789012345", None, "guess"),
        ("password", None, "common"),
        ("PassWord", None, "common"),
        ("qwertyuiop", None, "common"),
        ("iloveyou123", None, "common"),
        ("aaaaaaaaaaaaaaaa", None, "guess"),
        ("😀" * 12, None, "guess"),
        ("margaret-whitfield", "margaret-whitfield", "username"),
        ("Margaret-Whitfield", "margaret-whitfield", "username"),
        ("xx-MARGARET-whitfield-99!", "margaret-whitfield", "username"),
        ("bob", "bob", "too short"),
    ],
)
def test_weak_passwords_are_rejected_with_a_generic_reason(
    password: str, username: str | None, reason: str
) -> None:
    with pytest.raises(PasswordRejected) as caught:
        POLICY.check_policy(password, username=username, second_factor=True)
    assert reason in caught.value.reason
    assert password not in caught.value.reason or not password
    assert caught.value.code == "weak_password"


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("correct horse battery staple", None),
        ("horse-staple-glacier-mint", "alice"),
        ("k9#Lm2$vQx8!", "alice"),
        ("Wvt7-pq3m", None),
        ("bird-bob-lantern-77", "bob"),  # a 3-letter username may appear inside
        ("блины с икрой и сметаной", None),
        ("自転車で海まで行こう2024", None),
        ("a" + "x7Qp#2" * 170, None),  # 1021 characters: long is fine
    ],
)
def test_strong_passwords_are_accepted(password: str, username: str | None) -> None:
    POLICY.check_policy(password, username=username, second_factor=True)


def test_policy_counts_characters_not_bytes() -> None:
    # Eight 4-byte characters are eight characters, long enough.
    POLICY.check_policy("🦊🌲🚲🎻🧭🪁🍉🛶", second_factor=True)


def test_minimum_score_is_configurable() -> None:
    lenient = PasswordHasher(PasswordSettings(min_score=0))
    lenient.check_policy("Password1!", second_factor=True)
    strict = PasswordHasher(PasswordSettings(min_score=4))
    with pytest.raises(PasswordRejected):
        strict.check_policy("Summer2024!", second_factor=True)


@pytest.mark.parametrize("password", ["k9#Lm2$vQx8!", "Wvt7-pq3m", "horse-staple-g"])
def test_a_single_factor_password_needs_fifteen_characters(password: str) -> None:
    with pytest.raises(PasswordRejected) as caught:
        POLICY.check_policy(password)
    assert "at least 15" in caught.value.reason
    POLICY.check_policy(password, second_factor=True)


def test_both_minimums_are_settings_and_min_length_stays_the_floor() -> None:
    custom = PasswordHasher(PasswordSettings(min_length_single_factor=12, min_length_with_mfa=10))
    custom.check_policy("k9#Lm2$vQx8!")
    with pytest.raises(PasswordRejected):
        custom.check_policy("Wvt7-pq3m", second_factor=True)
    floor = PasswordHasher(PasswordSettings(min_length=16, min_length_single_factor=15))
    with pytest.raises(PasswordRejected):
        floor.check_policy("horse-staple-gl")  # 15 characters, under the floor of 16


def test_lone_surrogate_is_rejected_by_policy() -> None:
    with pytest.raises(PasswordRejected):
        POLICY.check_policy("horse-staple-\ud800-glacier")
