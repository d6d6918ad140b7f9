"""The shape of every error authgate sends: the RFC 6749 §5.2 / RFC 6750 §3 body
(:class:`ErrorBody`, built by :func:`oauth_error`, never cached), the default realm,
the one description of a refused token and the quoting of challenge parameters. Shared
by the one mapping (:mod:`authgate.web.errors`) and the prebuilt 401
(:mod:`authgate.web.refusal`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse

__all__ = ["DEFAULT_REALM", "INVALID_TOKEN_DESCRIPTION", "ErrorBody", "oauth_error"]

DEFAULT_REALM = "authgate"
#: RFC 6750 §3.1 allows the policy violation (SECURITY.md A.0: one body for all 401s).
INVALID_TOKEN_DESCRIPTION = "the access token is missing, invalid, expired or revoked"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ErrorBody(BaseModel):
    """RFC 6749 §5.2 / RFC 6750 §3 error body."""

    error: str
    error_description: str | None = None
    scope: str | None = None


def _quote(value: str) -> str:
    # RFC 7235 §2.2 quoted-string: no DQUOTE or backslash inside.
    return value.replace("\\", "").replace('"', "")


def oauth_error(
    status: int,
    error: str,
    description: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """An error response with the RFC 6749 §5.2 body shape and ``no-store``."""
    body: dict[str, Any] = {"error": error}
    if description:
        body["error_description"] = description
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **(headers or {})})
