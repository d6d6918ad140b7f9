"""The prebuilt 401 (RFC 6750 §3): the answer to a refused or missing token, built
once per realm and replayed as bytes, so refusing a token costs less than accepting
one. The body is the same for every 401 (SECURITY.md A.0: uniform 401s); it is the
answer :func:`authgate.web.errors.error_response` gives for any ``TokenError``.
"""

from __future__ import annotations

from starlette.responses import Response

from authgate.web.error_body import (
    DEFAULT_REALM,
    INVALID_TOKEN_DESCRIPTION,
    _quote,
    oauth_error,
)

__all__ = ["token_refusal"]


class _Refusal(Response):
    """A prebuilt 401: no JSON encoding, no header encoding per request."""

    def __init__(self, body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 401
        self.body = body
        self.background = None
        self.raw_headers = list(raw_headers)  # a copy: outer middleware may edit it


_REFUSALS: dict[tuple[str, bool], tuple[bytes, list[tuple[bytes, bytes]]]] = {}


def token_refusal(realm: str = DEFAULT_REALM, *, missing: bool = False) -> Response:
    """The RFC 6750 §3 401: ``missing`` when the request carried no credentials at
    all (§3.1: no ``error`` attribute in ``WWW-Authenticate``). Same body either way."""
    built = _REFUSALS.get((realm, missing))
    if built is None:
        challenge = f'Bearer realm="{_quote(realm)}"'
        if not missing:
            challenge += f', error="invalid_token", error_description="{INVALID_TOKEN_DESCRIPTION}"'
        template = oauth_error(
            401,
            "invalid_token",
            INVALID_TOKEN_DESCRIPTION,
            headers={"WWW-Authenticate": challenge},
        )
        built = _REFUSALS[(realm, missing)] = (bytes(template.body), template.raw_headers)
    return _Refusal(*built)
