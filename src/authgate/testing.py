"""Test helpers for apps protected by authgate: mint valid tokens for any user and
scopes, with no login round trip and no database.

::

    from authgate.testing import AuthGateTestKit

    @pytest.fixture
    def kit() -> AuthGateTestKit:
        return AuthGateTestKit(Settings(audience="my-api"))

    def test_create_item_needs_scope(kit: AuthGateTestKit) -> None:
        app = create_my_app()
        kit.install(app)                     # the app now trusts the kit's key
        client = TestClient(app)
        r = client.post("/items", headers=kit.headers("alice", ["items:write"]))
        assert r.status_code == 201

The kit signs with a fresh in-memory key for ``settings.signing_algorithm`` and
verifies with the real :class:`~authgate.tokens.TokenCodec` (same issuer, audience,
leeway), so expiry, scopes and revocation behave as in production. Its clock is a
:class:`~authgate.clock.FrozenClock` you can move.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from authgate.clock import FrozenClock
from authgate.settings import Settings
from authgate.tokens import KeyRing, TokenCodec, VerifiedToken, generate_key
from authgate.web.guard import APP_STATE_GUARD, TokenGuard

__all__ = ["AuthGateTestKit", "CodecVerifier", "test_settings"]


class _DenyList:
    def __init__(self) -> None:
        self.jtis: set[str] = set()
        self.subjects: set[str] = set()

    def is_revoked(self, token: VerifiedToken) -> bool:
        return token.jti in self.jtis or token.sub in self.subjects


class CodecVerifier:
    """An :class:`~authgate.tokens.AccessTokenVerifier` over a :class:`TokenCodec`."""

    def __init__(self, codec: TokenCodec) -> None:
        self.codec = codec

    async def verify_access_token(self, token: str) -> VerifiedToken:
        return self.codec.verify(token)


class _IsolatedSettings(Settings):
    """Settings from arguments only: no ``AUTHGATE_*`` variable or ``.env`` leaks in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a throw-away auth server in ``data_dir`` (a SQLite file), with
    nothing read from the environment or ``.env``."""
    values: dict[str, Any] = {"data_dir": data_dir}
    values.update(overrides)
    return _IsolatedSettings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class AuthGateTestKit:
    """Mint tokens an app accepts, and point the app at the kit's key.

    Args:
        settings: the app's settings (issuer, audience, algorithm, leeway, TTL).
        clock: defaults to a :class:`FrozenClock` at the current time.
    """

    __test__ = False

    def __init__(self, settings: Settings | None = None, *, clock: FrozenClock | None = None):
        self.settings = settings or _IsolatedSettings()
        self.clock = clock or FrozenClock(time.time())
        self.keyring = KeyRing.single(generate_key(self.settings.signing_algorithm))
        self.denylist = _DenyList()
        self.codec = TokenCodec(
            self.keyring,
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            clock=self.clock,
            leeway=self.settings.leeway,
            revocation=self.denylist,
        )
        self.verifier = CodecVerifier(self.codec)
        self.guard = TokenGuard(self.verifier, cookies=self.settings.cookies)

    def token(
        self,
        sub: str = "test-user",
        scopes: Iterable[str] = (),
        *,
        ttl: int | None = None,
        sid: str | None = None,
        audience: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed RFC 9068 access token for ``sub`` with ``scopes``."""
        token, _ = self.codec.issue(
            sub=sub,
            ttl=ttl if ttl is not None else self.settings.access_token_ttl,
            client_id=self.settings.client_id,
            scope=frozenset(scopes),
            sid=sid,
            audience=audience,
            extra=extra,
        )
        return token

    def headers(
        self, sub: str = "test-user", scopes: Iterable[str] = (), **kw: Any
    ) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for :meth:`token`."""
        return {"Authorization": f"Bearer {self.token(sub, scopes, **kw)}"}

    def revoke(self, token: str) -> None:
        """Deny this token's ``jti`` from now on."""
        self.denylist.jtis.add(self.codec.verify(token).jti)

    def revoke_subject(self, sub: str) -> None:
        """Deny every token of ``sub`` (as a disabled account would be)."""
        self.denylist.subjects.add(sub)

    def advance(self, seconds: float) -> None:
        """Move the kit's clock (tokens expire without sleeping)."""
        self.clock.advance(seconds)

    def install(self, app: FastAPI) -> TokenGuard:
        """Make ``app`` trust the kit's tokens.

        If the app already has a guard (``AuthGate.install`` / ``TokenGuard.install``),
        its verifier is replaced, so guard-bound dependencies and the middleware follow;
        otherwise the kit's own guard is installed for the module-level aliases.
        """
        existing = getattr(app.state, APP_STATE_GUARD, None)
        if isinstance(existing, TokenGuard):
            existing.verifier = self.verifier
            return existing
        self.guard.install(app)
        return self.guard
