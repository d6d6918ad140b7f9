"""Email addresses: syntax check and normalisation (RFC 5321 §4.1.2, RFC 6531).

``normalize_email`` is the one place an address is judged. The check is syntax only
(``email-validator`` with ``check_deliverability=False``): no DNS query from a request.
Two addresses that differ only in the case of their local part, or in the form of an
internationalised domain, belong to one account: the ``key`` (stored in
``users.email_key``, unique) is the local part casefolded and the domain in its ASCII
form, lowercase; the ``display`` form is what the user sees and what mail is sent to.
"""

from __future__ import annotations

from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from authgate.errors import InvalidRequest

__all__ = ["MAX_EMAIL_LENGTH", "NormalizedEmail", "email_key", "normalize_email"]

#: RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class NormalizedEmail:
    display: str
    key: str


def email_key(local_part: str, ascii_domain: str) -> str:
    """The uniqueness key of an address email-validator accepted: its local part
    casefolded, its domain in ASCII (IDNA) form, lowercase. The one rule, shared by
    registration and ``authgate users import`` (:mod:`authgate.service.imports`)."""
    return f"{local_part.casefold()}@{ascii_domain.lower()}"


def normalize_email(address: object) -> NormalizedEmail:
    """Check ``address`` and return its display form and its uniqueness key.

    Raises:
        InvalidRequest: not a string, too long, or not a valid address; the message
            says why in one line.
    """
    if not isinstance(address, str) or not address.strip():
        raise InvalidRequest("email is not valid: an address is required")
    if len(address) > MAX_EMAIL_LENGTH:
        raise InvalidRequest(f"email is not valid: longer than {MAX_EMAIL_LENGTH} characters")
    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidRequest(f"email is not valid: {str(exc)[:120]}") from None
    key = email_key(checked.local_part, checked.ascii_domain or checked.domain)
    return NormalizedEmail(display=checked.normalized, key=key)
