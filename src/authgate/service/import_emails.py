"""The e-mail check of ``authgate users import``: registration's own rule
(:func:`authgate.service.emails.normalize_email`: display form and uniqueness key),
with a fast path for the common case, since email-validator's cost dominates an
import (BENCHMARKS.md)."""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from authgate.errors import InvalidRequest
from authgate.service.emails import MAX_EMAIL_LENGTH, NormalizedEmail, email_key, normalize_email

__all__ = ["check_email"]


#: RFC 5322 §3.2.3 dot-atom, ASCII: a local part email-validator accepts unchanged.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str]:
    """email-validator's (display, ASCII) forms of ``domain``."""
    checked = validate_email("x@" + domain, check_deliverability=False)
    return checked.domain, checked.ascii_domain or checked.domain


def _fast(address: str) -> NormalizedEmail | None:
    """:func:`normalize_email`'s result for a plain ASCII local part at a valid
    domain, the domain's verdict cached; None where the full check must decide."""
    local, at, domain = address.rpartition("@")
    if not at or len(local) > 64 or address != address.strip():
        return None
    if not _PLAIN_LOCAL.fullmatch(local):
        return None
    try:
        display_domain, ascii_domain = _domain(domain)
    except EmailNotValidError:
        return None
    display = f"{local}@{display_domain}"
    # email-validator's length rule (RFC 5321 §4.5.3.1.3), in UTF-8 octets, on the
    # address as given, as normalised, and with the domain in ASCII form.
    for form in (address, display, f"{local}@{ascii_domain}"):
        if len(form.encode()) > MAX_EMAIL_LENGTH:
            return None
    return NormalizedEmail(display=display, key=email_key(local, ascii_domain))


def check_email(address: str) -> NormalizedEmail:
    """:func:`authgate.service.emails.normalize_email` (display form and uniqueness
    key, no DNS lookup), with a fast path: a plain ASCII local part at a domain
    already seen skips the full check, email-validator's domain verdict cached (its
    cost dominates an import; BENCHMARKS.md). tests/imports/test_email_check.py
    proves the two agree.

    Raises:
        ValueError: not a valid address.
    """
    fast = _fast(address)
    if fast is not None:
        return fast
    try:
        return normalize_email(address)
    except InvalidRequest as exc:
        reason = exc.message.removeprefix("email is not valid: ")
        raise ValueError(f"email: {reason}") from None
