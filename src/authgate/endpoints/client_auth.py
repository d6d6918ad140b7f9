"""Reading client credentials from a request (RFC 6749 §2.3.1, RFC 7521 §4.2).

Exactly one method per request (RFC 6749 §2.3: a client MUST NOT use more than one):
HTTP Basic (``client_secret_basic``; client_id and secret form-urlencoded before
base64, so they are percent-decoded here), ``client_id`` + ``client_secret`` in the
body (``client_secret_post``), or ``client_assertion_type`` + ``client_assertion``
(``private_key_jwt``). Nothing but a client_id (or nothing at all) is the first-party
public client: ``None``. So is HTTP Basic with an empty secret (``Og==`` is ``":"``),
which is what Swagger UI's password flow sends for a public client (RFC 6749 §2.1: a
public client has no secret to authenticate with); answering it with a Basic challenge
would make the browser prompt for a password instead.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from starlette.requests import HTTPConnection

from authgate.endpoints.forms import OAuthForm
from authgate.errors import InvalidClient, InvalidRequest
from authgate.service.client_auth import JWT_BEARER, ClientCredentials, assertion_client_id
from authgate.tokens import MAX_TOKEN_LENGTH

__all__ = ["read_client_credentials"]

_MAX_ID = 64
_MAX_SECRET = 256


def _basic(header: str) -> ClientCredentials | None:
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        encoded_id, encoded_secret = raw.split(":", 1)
        client_id = unquote_plus(encoded_id, errors="strict")
        secret = unquote_plus(encoded_secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidClient(basic=True) from exc
    if not secret and len(client_id) <= _MAX_ID:
        return None  # a public client (see the module docstring)
    if not 0 < len(client_id) <= _MAX_ID or not 0 < len(secret) <= _MAX_SECRET:
        raise InvalidClient(basic=True)
    return ClientCredentials("client_secret_basic", client_id, secret=secret)


def read_client_credentials(conn: HTTPConnection, form: OAuthForm) -> ClientCredentials | None:
    """The credentials presented, or None (see the module docstring).

    Raises:
        InvalidRequest: more than one method, or an incomplete assertion.
        InvalidClient: malformed credentials.
    """
    header = conn.headers.get("authorization", "")
    basic = header[:6].lower() == "basic "
    form_id = form.get("client_id", max_length=_MAX_ID)
    secret = form.get("client_secret", max_length=_MAX_SECRET)
    assertion = form.get("client_assertion", max_length=MAX_TOKEN_LENGTH)
    assertion_type = form.get("client_assertion_type", max_length=128)
    methods = sum((basic, secret is not None, assertion is not None or assertion_type is not None))
    if methods > 1:
        raise InvalidRequest("use exactly one client authentication method (RFC 6749 §2.3)")
    if basic:
        creds = _basic(header)
        if creds is None:
            return None
        if form_id is not None and form_id != creds.client_id:
            raise InvalidRequest("client_id differs from the authenticated client")
        return creds
    if secret is not None:
        if form_id is None:
            raise InvalidRequest("client_secret needs client_id")
        return ClientCredentials("client_secret_post", form_id, secret=secret)
    if assertion is not None or assertion_type is not None:
        if assertion_type != JWT_BEARER or assertion is None:
            raise InvalidRequest(f"client_assertion_type must be {JWT_BEARER}")
        client_id = assertion_client_id(assertion)
        if client_id is None or (form_id is not None and form_id != client_id):
            raise InvalidClient()
        return ClientCredentials("private_key_jwt", client_id, assertion=assertion)
    return None
