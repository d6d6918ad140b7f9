"""The login's second step: the ``mfa_token`` and its completion.

A password login for a user with a second factor never yields tokens: it ends in
:class:`~authgate.errors.MfaRequired` carrying an ``mfa_token`` (256 random bits, only
its SHA-256 stored, single use, ``mfa.mfa_token_ttl`` seconds on the injected clock)
bound to the user and to the credential version the password was checked against,
so a password change, disable or logout-all in between kills it.

Completion (:meth:`MfaLogins.complete`) judges one proof of one registered method
(:mod:`authgate.service.second_step`):

1. the token is looked up (unknown, used, expired: ``invalid_grant``, nothing counted);
2. an attempt is reserved with the second-factor throttle for the user *before* the
   proof is checked (SECURITY.md A.7 #47): a burst of wrong codes reaches the check
   at most ``mfa.max_failures`` times per window, then the right code too is refused
   until the back-off ends;
3. one write transaction consumes the token (compare-and-set), verifies and consumes
   the proof (a TOTP step or a recovery code: compare-and-set), and opens the session
   under the user row lock at the token's credential version, on an enabled account
   whose address is verified when ``require_verified_email`` is on (the first step's
   rules, read again on the locked row: the address may have changed meanwhile, and
   that moves no credential version). A wrong proof rolls it
   all back (the token stays usable, the failure is counted); a burst of the same
   right proof has exactly one winner.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping

from authgate.clock import Clock
from authgate.domain import ClientInfo, TokenPair, UserRecord
from authgate.errors import InvalidGrant, InvalidRequest, MfaRequired, RateLimited
from authgate.service.audit import audit, log_event
from authgate.service.issuer import TokenIssuer, new_refresh_token, require_hash
from authgate.service.second_step import SecondSteps, StepProof
from authgate.service.throttle import LoginThrottle
from authgate.service.users import new_id
from authgate.settings import MfaSettings, SessionSettings
from authgate.store.protocols import Store, Transaction

__all__ = ["MFA_GRANT_TYPE", "MfaLogins", "RecoveryNotice"]

#: The grant type of the second step at the token endpoint (RFC 6749 §4.5 extension).
MFA_GRANT_TYPE = "urn:authgate:params:oauth:grant-type:mfa"

#: The hook where a "a recovery code was used" email is queued (issue 16's outbox wires
#: it at merge; None sends nothing): ``(tx, user_id, codes_left)``, awaited inside the
#: transaction that used the code, so the notice is queued if and only if the login
#: commits. It decides itself whether the user has a verified address.
RecoveryNotice = Callable[[Transaction, str, int], Awaitable[None]]


class _WrongProof(Exception):
    """Internal: roll the completion's transaction back, count a failure."""


class MfaLogins:
    def __init__(
        self,
        db: Store,
        *,
        settings: MfaSettings,
        sessions: SessionSettings,
        clock: Clock,
        throttle: LoginThrottle,
        issuer: TokenIssuer,
        steps: SecondSteps,
        recovery_notice: RecoveryNotice | None = None,
        require_verified_email: bool = False,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.throttle = throttle
        self.issuer = issuer
        self.steps = steps
        self.recovery_notice = recovery_notice
        self.require_verified_email = require_verified_email

    async def challenge(
        self, user: UserRecord, scope: str, client: ClientInfo, now: float
    ) -> MfaRequired:
        """Store a new ``mfa_token`` for ``user`` (password just checked at its
        ``credential_version``); the exception to raise."""
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode("ascii")).digest()
        async with self.db.write() as tx:
            await tx.factors.add_mfa_token(
                digest,
                user_id=user.id,
                version=user.credential_version,
                scope=scope,
                now=now,
                ttl=self.settings.mfa_token_ttl,
            )
            methods = await self.steps.available(tx, user.id)
            await audit(tx, "mfa_required", now=now, user_id=user.id, ip=client.ip)
        return MfaRequired(token, methods)

    def pick(self, proofs: Mapping[str, str | None]) -> tuple[str, str]:
        """The one (method, proof) among ``proofs`` (parameter name → value).

        Raises:
            InvalidRequest: none, or more than one, of the methods' parameters.
        """
        given = [(n, v) for n, v in proofs.items() if v is not None and self.steps.get(n)]
        if len(given) != 1:
            names = " or ".join(self.steps.names)
            raise InvalidRequest(f"send exactly one of: {names}")
        return given[0][0], str(given[0][1])

    async def complete(
        self, mfa_token: str, method_name: str, proof: str, *, client: ClientInfo
    ) -> TokenPair:
        """See the module docstring.

        Raises:
            InvalidGrant: the token is unknown, used or expired; the proof is wrong
                or already used; the credentials changed since the password check.
            InvalidRequest: an unknown method.
            RateLimited: too many wrong proofs for this user.
        """
        method = self.steps.get(method_name)
        if method is None:
            raise InvalidRequest(f"unknown second-step method {method_name!r}")
        digest = require_hash(mfa_token)
        now = self.clock.now()
        async with self.db.read() as tx:
            pending = await tx.factors.mfa_token(digest)
        if pending is None or pending.used_at is not None or pending.expires_at <= now:
            raise InvalidGrant("the mfa_token is invalid, used or expired")
        user_id = pending.user_id
        try:
            attempt = await self.throttle.reserve(f"mfa:{user_id}", client.ip)
        except RateLimited:
            async with self.db.write() as tx:
                await audit(tx, "mfa_throttled", now=now, user_id=user_id, ip=client.ip)
            raise
        amr = ("pwd", *method.amr, "mfa")
        refresh, refresh_digest = new_refresh_token()
        sid = new_id()
        s = self.sessions
        async with attempt:
            try:
                async with self.db.write() as tx:
                    if not await tx.factors.consume_mfa_token(digest, now=now):
                        raise InvalidGrant("the mfa_token is invalid, used or expired")
                    proof_of = StepProof(user_id, proof, now, digest)
                    if not await method.verify(tx, proof_of):
                        raise _WrongProof
                    opened = await tx.factors.open_session(
                        user_id,
                        version=pending.credential_version,
                        sid=sid,
                        digest=refresh_digest,
                        scope=pending.scope,
                        amr=" ".join(amr),
                        now=now,
                        idle_expires_at=min(now + s.idle_ttl, now + s.absolute_ttl),
                        absolute_expires_at=now + s.absolute_ttl,
                        client=client,
                        require_verified=self.require_verified_email,
                    )
                    # A password change, disable or logout-all came first, or the
                    # address is no longer verified (the password step's rules hold
                    # on the row the session is opened on).
                    if not opened:
                        raise InvalidGrant("the mfa_token is invalid, used or expired")
                    if method.audit_event is not None:
                        await audit(tx, method.audit_event, now=now, user_id=user_id, ip=client.ip)
                    if method.name == "recovery_code" and self.recovery_notice is not None:
                        left = await tx.factors.recovery_codes_left(user_id)
                        await self.recovery_notice(tx, user_id, left)
            except _WrongProof:
                await attempt.failed()
                async with self.db.write() as tx:
                    await audit(
                        tx,
                        "mfa_failed",
                        now=now,
                        user_id=user_id,
                        ip=client.ip,
                        method=method.name,
                    )
                raise InvalidGrant("the code is not valid") from None
            log_event("login_ok", user_id=user_id, session_id=sid, ip=client.ip, amr=list(amr))
            await attempt.succeeded()
        return self.issuer.pair(
            user_id,
            sid,
            frozenset(pending.scope.split()),
            refresh,
            pending.credential_version,
            amr=amr,
        )
