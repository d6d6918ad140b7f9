"""Usernames, scopes and the user row.

Usernames are compared after NFKC + casefold (Unicode TR #15 / TR #36 §2.11: the
compatibility forms and case variants of a name are one account), and shown as given
after NFKC. The user id, not the username, is the token ``sub`` (RFC 8725 §3.8).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

from authgate.errors import InvalidRequest, InvalidScope

__all__ = [
    "MAX_USERNAME",
    "new_id",
    "normalize_username",
    "parse_scope",
    "scope_text",
]

MAX_USERNAME = 64
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")


def new_id() -> str:
    """A random opaque id (128 bits)."""
    return secrets.token_urlsafe(16)


def normalize_username(username: object) -> tuple[str, str]:
    """Return (display, key): NFKC, and NFKC + casefold for uniqueness.

    Raises:
        InvalidRequest: not 1–64 characters after NFKC, or contains whitespace or a
            control / format / unassigned character.
    """
    if not isinstance(username, str) or len(username) > 4 * MAX_USERNAME:
        raise InvalidRequest("username must be 1-64 characters")
    display = unicodedata.normalize("NFKC", username)
    if not 1 <= len(display) <= MAX_USERNAME:
        raise InvalidRequest("username must be 1-64 characters")
    for ch in display:
        if ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            raise InvalidRequest("username must not contain spaces or control characters")
    key = unicodedata.normalize("NFKC", display.casefold())
    return display, key


def parse_scope(scope: str | Iterable[str] | None) -> frozenset[str] | None:
    """A space-delimited scope string (or tokens) as a set; None stays None.

    Raises:
        InvalidScope: a token outside the RFC 6749 §3.3 character set.
    """
    if scope is None:
        return None
    tokens = scope.split(" ") if isinstance(scope, str) else list(scope)
    out = set()
    for token in tokens:
        if token == "" and isinstance(scope, str):
            continue
        if not isinstance(token, str) or not _SCOPE_TOKEN.fullmatch(token):
            raise InvalidScope("malformed scope")
        out.add(token)
    return frozenset(out)


def scope_text(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))
