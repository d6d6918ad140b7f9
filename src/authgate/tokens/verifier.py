"""What the web layer needs from whatever checks tokens: the auth service, or a
JWKS-backed verifier in another service."""

from __future__ import annotations

from typing import Protocol

from authgate.tokens.claims import VerifiedToken

__all__ = ["AccessTokenVerifier"]


class AccessTokenVerifier(Protocol):
    async def verify_access_token(self, token: str) -> VerifiedToken:
        """Verify an RFC 9068 access token.

        Raises:
            TokenError: any reason the token is not acceptable.
        """
        ...
