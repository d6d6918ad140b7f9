"""Issuing token pairs, and the shape of refresh tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from authgate.domain import TokenPair
from authgate.errors import InvalidGrant
from authgate.service.revocation import GENERATION_CLAIM
from authgate.settings import Settings
from authgate.tokens import TokenCodec

__all__ = [
    "ACR_MFA",
    "ACR_PWD",
    "TokenIssuer",
    "acr_for",
    "hash_refresh_token",
    "new_refresh_token",
    "require_hash",
]

#: RFC 9470 §2 ``acr`` values: the password alone, or the password and a second
#: factor (RFC 8176 ``mfa`` in ``amr``).
ACR_PWD = "urn:authgate:acr:pwd"
ACR_MFA = "urn:authgate:acr:mfa"


def acr_for(amr: tuple[str, ...]) -> str:
    return ACR_MFA if "mfa" in amr else ACR_PWD


#: secrets.token_urlsafe(32): 43 characters, 256 bits (RFC 6749 §10.10, A.4 #24).
_REFRESH_SHAPE = re.compile(r"[A-Za-z0-9_-]{43,128}")


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode("ascii")).digest()


def hash_refresh_token(token: object) -> bytes | None:
    """The SHA-256 lookup key, or None for anything not shaped like our tokens."""
    if not isinstance(token, str) or not _REFRESH_SHAPE.fullmatch(token):
        return None
    return hashlib.sha256(token.encode("ascii")).digest()


def require_hash(token: object) -> bytes:
    digest = hash_refresh_token(token)
    if digest is None:
        raise InvalidGrant("invalid refresh token")
    return digest


class TokenIssuer:
    def __init__(self, settings: Settings, codec: TokenCodec) -> None:
        self.settings = settings
        self.codec = codec

    def pair(
        self,
        user_id: str,
        session_id: str,
        scope: frozenset[str],
        refresh_token: str,
        generation: int,
        audience: str | None = None,
        *,
        amr: tuple[str, ...] = ("pwd",),
    ) -> TokenPair:
        """RFC 9068 §2.2 access token bound to the session by ``sid``, and to the
        user's credential version by ``gen`` (A.7 #48); ``amr`` (RFC 8176) and the
        ``acr`` it implies (RFC 9470 §2) say how the session's login authenticated."""
        s = self.settings
        token, _ = self.codec.issue(
            sub=user_id,
            ttl=s.access_token_ttl,
            client_id=s.client_id,
            scope=scope,
            sid=session_id,
            audience=audience,
            extra={GENERATION_CLAIM: generation, "amr": list(amr), "acr": acr_for(amr)},
        )
        return TokenPair(
            access_token=token,
            refresh_token=refresh_token,
            expires_in=s.access_token_ttl,
            scope=scope,
            session_id=session_id,
            user_id=user_id,
        )
