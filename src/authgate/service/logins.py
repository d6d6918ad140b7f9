"""Password login (first-party only, SECURITY.md A.5).

Unknown user, wrong password and disabled account cost exactly one hash
verification each and raise the same error (OWASP Authentication CS, A.5 #37).
The attempt is reserved with the throttle before the hash, so a blocked or busy
account is refused even with the right password, and a burst cannot outrun the
count (A.5 #38, A.7 #47). A scope the user lacks is judged after the password and
counts as a failure: no free password oracle (A.7 #54). The session is created only
if the user's credential version and status are still those the password was
checked against (A.7 #48): :meth:`authgate.store.sessions.SqlHotPath.open_session`.
A user with a confirmed second factor gets no tokens here: ``MfaRequired`` with an
``mfa_token`` (:mod:`authgate.service.mfa_login`).
"""

from __future__ import annotations

import unicodedata

from authgate.clock import Clock
from authgate.domain import Api, ClientInfo, TokenPair, UserRecord
from authgate.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    RateLimited,
)
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit, log_event
from authgate.service.audit_limit import FailureAudit
from authgate.service.issuer import TokenIssuer, new_refresh_token
from authgate.service.mfa_login import MfaLogins
from authgate.service.throttle import Attempt, LoginThrottle
from authgate.service.users import new_id, normalize_username, parse_scope, scope_text
from authgate.settings import SessionSettings
from authgate.store.protocols import Store

__all__ = ["Logins"]


def _account(username: object) -> tuple[str, str | None]:
    """(throttle account, lookup key or None when no user can have this name)."""
    if not isinstance(username, str) or len(username) > 1024:
        raise InvalidRequest("username is missing or too long")
    try:
        _, key = normalize_username(username)
    except InvalidRequest:
        return unicodedata.normalize("NFKC", username).casefold(), None
    return key, key


class Logins:
    def __init__(
        self,
        db: Store,
        *,
        sessions: SessionSettings,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        issuer: TokenIssuer,
        failure_audit: FailureAudit,
        mfa: MfaLogins | None = None,
        require_verified_email: bool = False,
    ) -> None:
        self.require_verified_email = require_verified_email
        self.db = db
        self.sessions = sessions
        self.clock = clock
        self.hasher = hasher
        self.throttle = throttle
        self.issuer = issuer
        self.failure_audit = failure_audit
        self.mfa = mfa

    async def login(
        self,
        username: str,
        password: str,
        *,
        scope: str | None,
        client: ClientInfo,
        target: Api | None = None,
    ) -> TokenPair:
        """See the module docstring."""
        if not isinstance(password, str):
            raise InvalidRequest("password is required")
        self.hasher.check_length(password)
        account, key = _account(username)
        requested = parse_scope(scope)
        now = self.clock.now()
        try:
            attempt = await self.throttle.reserve(account, client.ip)
        except RateLimited:
            await self.failure_audit.record("login_throttled", now=now, ip=client.ip)
            raise
        async with attempt:
            user = None
            if key is not None:
                user = await self.db.run_read(lambda w: w.user_by_key(key))
            new_hash: str | None = None
            if user is None:
                await self.hasher.verify_dummy(password, name=account)  # A.7 #54
                ok, reason = False, "unknown_user"
            else:
                ok, new_hash = await self.hasher.verify(password, user.password_hash)
                reason = "bad_password"
                if ok and user.disabled:
                    ok, reason = False, "disabled"
            if not ok:
                await self._failed(attempt, user, now, client, reason)
                raise InvalidCredentials("invalid username or password")
            assert user is not None
            allowed = frozenset(user.scopes.split())
            granted = allowed if requested is None else requested & allowed
            if requested and not granted:
                await self._failed(attempt, user, now, client, "invalid_scope")
                raise InvalidScope("none of the requested scopes is allowed for this user")
            if target is not None and not granted & target.scopes:  # RFC 8707 §2
                await self._failed(attempt, user, now, client, "invalid_target")
                raise InvalidTarget("no allowed scope is defined by this resource")
            if self.require_verified_email and not user.email_verified:  # after the password
                await self._failed(attempt, user, now, client, "email_not_verified")
                raise EmailNotVerified("verify the account's email address before signing in")
            if user.second_factor and self.mfa is not None:
                # The password was right; tokens only after the second step.
                challenge = await self.mfa.challenge(user, scope_text(granted), client, now)
                await attempt.succeeded()
                raise challenge
            refresh, digest = new_refresh_token()
            sid = new_id()
            s = self.sessions
            found = user
            opened = await self.db.run_write(
                lambda w: w.open_session(
                    found,
                    sid=sid,
                    digest=digest,
                    scope=scope_text(granted),
                    new_hash=new_hash,
                    now=now,
                    idle_expires_at=min(now + s.idle_ttl, now + s.absolute_ttl),
                    absolute_expires_at=now + s.absolute_ttl,
                    client=client,
                    audit_detail={"rehashed": new_hash is not None},
                )
            )
            if not opened:  # a password change, disable or logout-all came first
                await self._failed(attempt, user, now, client, "credentials_changed")
                raise InvalidCredentials("invalid username or password")
            log_event(
                "login_ok",
                user_id=user.id,
                session_id=sid,
                ip=client.ip,
                rehashed=new_hash is not None,
            )
            await attempt.succeeded()
        if target is None:
            return self.issuer.pair(user.id, sid, granted, refresh, user.credential_version)
        return self.issuer.pair(
            user.id,
            sid,
            granted & target.scopes,
            refresh,
            user.credential_version,
            audience=target.audience,
        )

    async def _failed(
        self,
        attempt: Attempt,
        user: UserRecord | None,
        now: float,
        client: ClientInfo,
        reason: str,
    ) -> None:
        await attempt.failed()
        async with self.db.write() as tx:
            await audit(
                tx,
                "login_failed",
                now=now,
                user_id=user.id if user is not None else None,
                ip=client.ip,
                reason=reason,
            )
