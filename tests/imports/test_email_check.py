"""The import's e-mail check gives email-validator's verdict and normal form, on its
cached path (a plain local part at a domain already seen) as on its full one."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from authgate.service.imports import check_email

ADDRESSES = [
    "User.1@Example.ORG",
    "user.1@example.org",
    "a+tag@example.org",
    "o'brien@example.org",
    "ü@example.org",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    '"quoted"@example.org',
    "a@b",
    "a@example.org.",
    "a@exa mple.org",
    "a@-example.org",
    "a@xn--bcher-kva.example",
    "a@bücher.example",
    "a" * 65 + "@example.org",
    "a@" + "b" * 64 + ".org",
    "a@localhost",
    "no-at-sign",
    "a@@example.org",
    "a@example.org\n",
]


def reference(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def ours(address: str) -> str | None:
    try:
        return check_email(address)
    except ValueError:
        return None


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_import_email_check_agrees_with_email_validator(address: str) -> None:
    # Twice: the first call fills the domain cache, the second takes the fast path.
    assert ours(address) == reference(address)
    assert ours(address) == reference(address)
