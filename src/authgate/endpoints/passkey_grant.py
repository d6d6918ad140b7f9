"""The token endpoint's passkey grant: its name and how its assertion is read."""

from __future__ import annotations

from typing import Any

import orjson

from authgate.errors import InvalidRequest

__all__ = ["MAX_CREDENTIAL_JSON", "WEBAUTHN_GRANT", "parse_assertion"]

#: The token endpoint's grant for a passkey sign-in; the assertion goes in the
#: ``assertion`` form field as JSON (RFC 6749 §4.5: an extension grant is a URI).
WEBAUTHN_GRANT = "urn:authgate:params:oauth:grant-type:webauthn"
#: A credential's JSON is a few hundred bytes; attestation ``none`` keeps it small.
MAX_CREDENTIAL_JSON = 16_384


def parse_assertion(raw: str) -> dict[str, Any]:
    """The assertion form field as a JSON object (bounded, strict)."""
    if len(raw) > MAX_CREDENTIAL_JSON:
        raise InvalidRequest("assertion is too long")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("assertion: not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("assertion: must be a JSON object")
    return data
