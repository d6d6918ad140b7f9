"""Which passwords authgate accepts (NIST SP 800-63B §5.1.1.2; ASVS 5.0 V6.2).

The rules, and why:

* **Length only, no composition rules.** At least ``min_length_single_factor``
  characters (15) for an account whose password is its only factor, and
  ``min_length_with_mfa`` (8) for one with a second factor (NIST SP 800-63B-4
  §3.1.1.2; never below ``min_length``), at most ``max_length`` (1024 by
  default; ASVS 6.2.9 asks for at least 64). Characters are Unicode code points,
  counted after NFKC normalisation, so "é" typed either way counts once.
* **Any Unicode**, spaces included; nothing is stripped or truncated (ASVS 6.2.5).
* **No common or guessable passwords** (NIST "blocklist", ASVS 6.2.4/6.2.12): refused
  when the case-folded password is in zxcvbn's list of the 30 000 most common
  passwords, or when zxcvbn's estimate scores below ``min_score`` (2 by default:
  fewer than 10^6 guesses, i.e. falls to an online attack even when throttled).
  zxcvbn also catches the "dictionary word + digit + symbol" patterns
  (``Password1!``), sequences (``123456789012345``), keyboard walks
  (``qwertyuiop``) and repeats, which no fixed list can enumerate. zxcvbn looks at
  the first 72 characters only (its own limit, it is super-linear in the length);
  the strength of a longer password is never lower than that of its prefix.
* **Not the username** (NIST §5.1.1.2 "context-specific words"): refused when it
  equals the username, or contains it when the username has 4 or more characters.

Reasons are short, generic and never echo the password.
"""

from __future__ import annotations

import unicodedata

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from authgate.errors import InvalidRequest, PasswordRejected
from authgate.settings import PasswordSettings

__all__ = ["check_length", "check_policy", "min_length_for", "normalize"]

#: zxcvbn's own input limit; only the strength estimate looks at this prefix.
_ZXCVBN_MAX_CHARS = 72
#: Usernames shorter than this are only refused as the whole password.
_MIN_USERNAME_INFIX = 4

_COMMON_PASSWORDS: frozenset[str] = frozenset(FREQUENCY_LISTS["passwords"])


def normalize(password: str) -> str:
    """NFKC-normalise a password before hashing (NIST SP 800-63B §5.1.1.2: verifiers
    SHOULD apply NFKC or NFKD so the same password typed on another keyboard or IME,
    e.g. composed vs decomposed accents or full-width digits, still matches)."""
    return unicodedata.normalize("NFKC", password)


def check_length(password: str, max_length: int) -> None:
    """Refuse an oversized password before any normalising or hashing (the length
    test is O(1); the UTF-8 test that follows is bounded by ``max_length``).

    Raises:
        InvalidRequest: the password has more than ``max_length`` characters (a
            hashing denial-of-service guard, ASVS 5.0 6.2.9 / OWASP Password Storage CS),
            or holds lone surrogates, which are not text and cannot be hashed.
    """
    if len(password) > max_length:
        raise InvalidRequest(f"password longer than {max_length} characters")
    if not _is_text(password):
        raise InvalidRequest("password is not valid Unicode text")


def min_length_for(settings: PasswordSettings, *, second_factor: bool) -> int:
    """The minimum length of a password that is (or is not) the only factor."""
    wanted = settings.min_length_with_mfa if second_factor else settings.min_length_single_factor
    return max(settings.min_length, wanted)


def check_policy(
    password: str,
    settings: PasswordSettings,
    *,
    username: str | None,
    second_factor: bool = False,
) -> None:
    """Apply the rules in the module docstring (``second_factor``: the account has one).

    Raises:
        PasswordRejected: with a short, human-readable reason.
    """
    if len(password) > settings.max_length:
        raise PasswordRejected(f"Password is too long (at most {settings.max_length} characters).")
    if not _is_text(password):
        raise PasswordRejected("Password contains characters that are not valid text.")
    normalized = normalize(password)
    minimum = min_length_for(settings, second_factor=second_factor)
    if len(normalized) < minimum:
        raise PasswordRejected(f"Password is too short (at least {minimum} characters).")
    folded = normalized.casefold()
    if username:
        name = normalize(username).casefold()
        if folded == name or (len(name) >= _MIN_USERNAME_INFIX and name in folded):
            raise PasswordRejected("Password must not contain the username.")
    if folded in _COMMON_PASSWORDS:
        raise PasswordRejected("Password is too common; choose a less guessable one.")
    user_inputs = [username] if username else []
    estimate = zxcvbn(normalized[:_ZXCVBN_MAX_CHARS], user_inputs=user_inputs)
    if int(estimate["score"]) < settings.min_score:
        raise PasswordRejected("Password is too easy to guess; try a longer passphrase.")


def _is_text(password: str) -> bool:
    """False for lone surrogates (``"\\ud800"`` from JSON), which cannot be UTF-8
    encoded and so could never be hashed."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
