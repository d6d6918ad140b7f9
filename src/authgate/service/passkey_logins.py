"""Signing in with a passkey alone (W3C WebAuthn L3 §7.2, discoverable credentials).

``options`` hands out a fresh challenge that names no user (purpose ``login``). It
needs no credential, so it cannot grow storage without bound (SECURITY.md A.7 #53):

* each client IP gets ``login_options_per_ip_per_minute`` (the throttle's atomic
  counter, shared by every instance through Redis; then ``RateLimited``);
* at most ``max_pending_logins`` challenges are kept: each new one **evicts the
  oldest** beyond that, in its own transaction. Evicting rather than refusing: a
  refusal would let a flood from many addresses lock every passkey sign-in out for the
  challenge's lifetime, while eviction only costs a challenge older than the newest
  ``max_pending_logins`` (a person answers within seconds; the flood must out-pace
  that from ``max_pending_logins / per-IP-limit`` addresses). A stateless (sealed)
  challenge would need a key shared by every instance, which this deployment model
  does not have.

``login`` takes the assertion, in this order:
``login`` takes the assertion, in this order:

1. the challenge in ``clientDataJSON`` is taken from the store (single use, atomic:
   of a burst of copies of one assertion at most one goes on, §13.4.3);
2. the credential is looked up; the login throttle reserves an attempt for it and
   the client IP (as a password login, SECURITY.md A.7 #47);
3. the ceremony (origin, RP id hash, UP, UV required, signature) in a worker thread;
4. the signature counter (§6.1.1): a validly signed assertion whose counter did not
   increase is refused and audited as ``passkey_clone_suspected``;
5. with ``require_verified_email``, an account whose address is not verified is
   refused (``EmailNotVerified``, counted by the throttle, as the password login does
   after the password: only the key's holder learns it);
6. the counter moves by compare-and-set and the session opens only if the user is
   still active at the credential version read (A.7 #48).

Every refusal is one ``invalid_grant`` to the client, audited ``passkey_login_failed``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from authgate.clock import Clock
from authgate.domain import ClientInfo, Passkey, TokenPair
from authgate.errors import EmailNotVerified, InvalidGrant, InvalidScope, RateLimited
from authgate.service.audit import audit
from authgate.service.audit_limit import FailureAudit
from authgate.service.issuer import TokenIssuer, new_refresh_token, require_hash
from authgate.service.passkey_step import second_step_options
from authgate.service.throttle import LoginThrottle
from authgate.service.users import new_id, parse_scope, scope_text
from authgate.service.webauthn_ceremony import (
    Assertion,
    RelyingParty,
    assertion_options,
    challenge_digest,
    challenge_of,
    credential_id_of,
    verify_assertion,
)
from authgate.settings import SessionSettings, WebAuthnSettings
from authgate.store.protocols import Store

__all__ = ["PasskeyLogins", "passkey_amr"]

LOGIN = "login"


def passkey_amr(passkey: Passkey, result: Assertion) -> tuple[str, ...]:
    """RFC 8176 §2: ``hwk`` for a device-bound key, ``swk`` for one that may be synced
    (backup eligible, §6.1.3), plus ``user`` when the authenticator verified the user."""
    kind = "swk" if passkey.backup_eligible else "hwk"
    return (kind, "user") if result.user_verified else (kind,)


class PasskeyLogins:
    def __init__(
        self,
        db: Store,
        *,
        rp: RelyingParty,
        settings: WebAuthnSettings,
        sessions: SessionSettings,
        clock: Clock,
        throttle: LoginThrottle,
        issuer: TokenIssuer,
        failure_audit: FailureAudit,
        require_verified_email: bool = False,
    ) -> None:
        self.db = db
        self.rp = rp
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.throttle = throttle
        self.issuer = issuer
        self.failure_audit = failure_audit
        self.require_verified_email = require_verified_email

    async def options(
        self, mfa_token: str | None = None, *, ip: str | None = None
    ) -> dict[str, Any]:
        """Request options naming no user, with a fresh single-use challenge; or, with
        the ``mfa_token`` of a pending login, the options of its second step (that
        user's passkeys, :mod:`authgate.service.passkey_step`).

        Raises:
            InvalidGrant: the ``mfa_token`` is unknown, used or expired.
            RateLimited: ``ip`` asked for too many sign-in options this minute.
        """
        if mfa_token is not None:
            digest = require_hash(mfa_token)
            now = self.clock.now()
            async with self.db.read() as tx:
                pending = await tx.factors.mfa_token(digest)
                if pending is None or pending.used_at is not None or pending.expires_at <= now:
                    raise InvalidGrant("the mfa_token is invalid, used or expired")
                return await second_step_options(tx, self.rp, pending.user_id, digest)
        if ip is not None:
            try:
                await self.throttle.hit(
                    "passkey_options",
                    ip,
                    limit=self.settings.login_options_per_ip_per_minute,
                    period=60,
                )
            except RateLimited:
                await self.failure_audit.record(
                    "passkey_options_throttled", now=self.clock.now(), ip=ip
                )
                raise
        challenge = secrets.token_bytes(32)
        digest = challenge_digest(challenge)
        async with self.db.write() as tx:
            await tx.challenges.put(
                digest,
                user_id=None,
                purpose=LOGIN,
                expires_at=self.clock.now() + self.settings.challenge_ttl,
            )
            # This one and the newest others: at most ``max_pending_logins`` in all.
            keep = self.settings.max_pending_logins - 1
            await tx.challenges.trim(LOGIN, keep=keep, spare=digest)
        return assertion_options(self.rp, challenge=challenge, allow=[], user_verification=True)

    async def login(
        self, credential: dict[str, Any], *, scope: str | None, client: ClientInfo
    ) -> TokenPair:
        """See the module docstring.

        Raises:
            InvalidGrant: any refusal of the assertion.
            RateLimited: the login throttle.
            InvalidScope: none of the requested scopes is the user's.
        """
        challenge = challenge_of(credential)
        cid = credential_id_of(credential)
        requested = parse_scope(scope)
        now = self.clock.now()
        async with self.db.write() as tx:
            taken, _ = await tx.challenges.take(challenge_digest(challenge), purpose=LOGIN, now=now)
            passkey = await tx.passkeys.get(cid) if taken else None
        if not taken or passkey is None:  # no credential needed: bounded (A.7 #53)
            reason = "challenge" if not taken else "unknown_credential"
            await self.failure_audit.record(
                "passkey_login_failed", now=now, ip=client.ip, reason=reason
            )
            raise InvalidGrant("challenge or credential unknown, expired or already used")
        try:
            attempt = await self.throttle.reserve(f"passkey:{cid}", client.ip)
        except RateLimited:
            await self.failure_audit.record("login_throttled", now=now, ip=client.ip)
            raise
        async with attempt:
            try:
                result = await self._verify(credential, challenge, passkey, client)
            except InvalidGrant:
                await attempt.failed()
                raise
            try:
                pair = await self._open(passkey, result, requested, client)
            except EmailNotVerified:
                await attempt.failed()
                await self._failed(passkey.user_id, cid, client, "email_not_verified")
                raise
            if pair is None:
                await attempt.failed()
                await self._failed(passkey.user_id, cid, client, "inactive_or_raced")
                raise InvalidGrant("the credential cannot sign in")
            await attempt.succeeded()
        return pair

    async def _verify(
        self, credential: dict[str, Any], challenge: bytes, passkey: Passkey, client: ClientInfo
    ) -> Assertion:
        try:
            result = await asyncio.to_thread(
                verify_assertion,
                self.rp,
                credential,
                challenge=challenge,
                passkey=passkey,
                require_user_verification=True,
            )
        except InvalidGrant as exc:
            await self._failed(passkey.user_id, passkey.id, client, str(exc)[:120])
            raise
        if result.counter_regressed:
            async with self.db.write() as tx:
                await audit(
                    tx,
                    "passkey_clone_suspected",
                    now=self.clock.now(),
                    user_id=passkey.user_id,
                    ip=client.ip,
                    credential=passkey.id,
                    stored=passkey.sign_count,
                    presented=result.sign_count,
                )
            raise InvalidGrant("signature counter did not increase")
        return result

    async def _open(
        self,
        passkey: Passkey,
        result: Assertion,
        requested: frozenset[str] | None,
        client: ClientInfo,
    ) -> TokenPair | None:
        """One transaction: the counter's compare-and-set and the session, under the
        user row lock at the version read (A.7 #48). None when either lost."""
        now = self.clock.now()
        refresh, digest = new_refresh_token()
        sid = new_id()
        s = self.sessions
        amr = passkey_amr(passkey, result)
        async with self.db.write() as tx:
            user = await tx.users.get_record(passkey.user_id)
            if user is None or user.disabled:
                return None
            allowed = frozenset(user.scopes.split())
            granted = allowed if requested is None else requested & allowed
            if requested and not granted:  # rolls the transaction back
                raise InvalidScope("none of the requested scopes is allowed for this user")
            if self.require_verified_email and not user.email_verified:  # rolls back too
                raise EmailNotVerified("verify the account's email address before signing in")
            moved = await tx.passkeys.used(
                passkey.id,
                old_count=passkey.sign_count,
                new_count=result.sign_count,
                now=now,
                backed_up=result.backed_up,
            )
            opened = moved and await tx.factors.open_session(
                user.id,
                version=user.credential_version,
                sid=sid,
                digest=digest,
                scope=scope_text(granted),
                amr=" ".join(amr),
                now=now,
                idle_expires_at=min(now + s.idle_ttl, now + s.absolute_ttl),
                absolute_expires_at=now + s.absolute_ttl,
                client=client,
                require_verified=self.require_verified_email,
            )
            if not opened:
                return None
            await audit(
                tx,
                "passkey_login",
                now=now,
                user_id=user.id,
                session_id=sid,
                ip=client.ip,
                credential=passkey.id,
                amr=list(amr),
            )
        return self.issuer.pair(user.id, sid, granted, refresh, user.credential_version, amr=amr)

    async def _failed(self, user_id: str | None, cid: str, client: ClientInfo, reason: str) -> None:
        async with self.db.write() as tx:
            await audit(
                tx,
                "passkey_login_failed",
                now=self.clock.now(),
                user_id=user_id,
                ip=client.ip,
                credential=cid[:64],
                reason=reason,
            )
