"""Registering and managing passkeys (W3C WebAuthn L3 §7.1).

Adding a passkey adds a way into the account, so it needs a re-authentication
(ASVS 5.0 6.2, NIST SP 800-63B-4 §4.2.2): the current password, checked as a login
attempt of the login throttle, or a session opened less than
``webauthn.reauth_window`` seconds ago. The options and the credential are bound
by a single-use challenge of purpose ``register`` bound to the user (§13.4.3).

Deleting a passkey needs nothing more, unless it is the account's last second factor:
then the current password is required and must be fit to stand alone
(:mod:`authgate.service.factor_rules`, SECURITY.md A.7 #58), judged under the row lock.
"""

from __future__ import annotations

import secrets
from typing import Any

from authgate.clock import Clock
from authgate.domain import ClientInfo, Passkey, UserRecord
from authgate.errors import InvalidCredentials, InvalidRequest, NotFound
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit
from authgate.service.factor_rules import fits_alone, lock_at, refuse_if_left_alone
from authgate.service.throttle import LoginThrottle
from authgate.service.webauthn_ceremony import (
    RelyingParty,
    challenge_digest,
    challenge_of,
    registration_options,
    verify_registration,
)
from authgate.settings import WebAuthnSettings
from authgate.store.protocols import Store

__all__ = ["PasskeyRegistrations"]

REGISTER = "register"


def _name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise InvalidRequest("name: 1 to 64 characters")
    return " ".join(name.split())


class PasskeyRegistrations:
    def __init__(
        self,
        db: Store,
        *,
        rp: RelyingParty,
        settings: WebAuthnSettings,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
    ) -> None:
        self.db = db
        self.rp = rp
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.throttle = throttle

    async def options(
        self,
        user_id: str,
        *,
        session_id: str | None,
        current_password: str | None,
        client: ClientInfo,
    ) -> dict[str, Any]:
        """Creation options with a fresh challenge, after the re-authentication.

        Raises:
            InvalidCredentials: no (or a wrong) password and no fresh session.
            RateLimited: the login throttle.
            InvalidRequest: the account already has ``max_per_user`` passkeys.
        """
        await self._reauthenticate(user_id, session_id, current_password, client)
        now = self.clock.now()
        challenge = secrets.token_bytes(32)
        async with self.db.write() as tx:
            user = await tx.users.get(user_id)
            if user is None or user.disabled:
                raise InvalidCredentials("the account is not active")
            existing = await tx.passkeys.of_user(user_id)
            if len(existing) >= self.settings.max_per_user:
                raise InvalidRequest(f"at most {self.settings.max_per_user} passkeys")
            await tx.challenges.put(
                challenge_digest(challenge),
                user_id=user_id,
                purpose=REGISTER,
                expires_at=now + self.settings.challenge_ttl,
            )
        return registration_options(
            self.rp, user_id=user_id, username=user.username, challenge=challenge, existing=existing
        )

    async def register(
        self, user_id: str, credential: dict[str, Any], *, name: str, client: ClientInfo
    ) -> Passkey:
        """Verify the attestation response (§7.1) against a challenge this user was
        given, and store the credential.

        Raises:
            InvalidRequest: unknown, used or expired challenge; the ceremony failed;
                the credential is already registered.
        """
        name = _name(name)
        challenge = challenge_of(credential, InvalidRequest)
        now = self.clock.now()
        async with self.db.write() as tx:
            taken, owner = await tx.challenges.take(
                challenge_digest(challenge), purpose=REGISTER, now=now
            )
        if not taken or owner != user_id:
            raise InvalidRequest("challenge: unknown, expired or already used")
        new = verify_registration(self.rp, credential, challenge=challenge)
        passkey = Passkey(
            id=new.id,
            user_id=user_id,
            public_key=new.public_key,
            sign_count=new.sign_count,
            transports=new.transports,
            name=name,
            created_at=now,
            last_used_at=None,
            backup_eligible=new.backup_eligible,
            backed_up=new.backed_up,
        )
        async with self.db.write() as tx:
            if await tx.passkeys.count(user_id) >= self.settings.max_per_user:
                raise InvalidRequest(f"at most {self.settings.max_per_user} passkeys")
            await tx.passkeys.insert(passkey)
            await audit(
                tx, "passkey_registered", now=now, user_id=user_id, ip=client.ip, credential=new.id
            )
        return passkey

    async def list(self, user_id: str) -> list[Passkey]:
        async with self.db.read() as tx:
            return await tx.passkeys.of_user(user_id)

    async def rename(self, user_id: str, credential_id: str, name: str) -> Passkey:
        """Raises NotFound (not this user's), InvalidRequest (bad name)."""
        name = _name(name)
        async with self.db.write() as tx:
            if not await tx.passkeys.rename(user_id, credential_id, name):
                raise NotFound("no such passkey")
            found = await tx.passkeys.get(credential_id)
        assert found is not None
        return found

    async def delete(
        self,
        user_id: str,
        credential_id: str,
        *,
        client: ClientInfo,
        current_password: str | None = None,
    ) -> None:
        """Delete a passkey; the last second factor needs ``current_password`` (module
        docstring).

        Raises:
            NotFound: not this user's passkey.
            InvalidCredentials: a wrong password, or the credentials changed meanwhile.
            InvalidRequest: no password, and the passkey is the last second factor.
            RateLimited: the login throttle (when a password is given).
            PasswordRejected: the last second factor, and the password is too weak to
                be the only one: change it first.
        """
        version: int | None = None
        alone: bool | None = None
        if current_password is not None:
            row = await self._check_password(user_id, current_password, client)
            version, alone = row.credential_version, fits_alone(self.hasher, row, current_password)
        minimum = self.hasher.min_length(second_factor=False)
        now = self.clock.now()
        async with self.db.write() as tx:
            await lock_at(tx, user_id, version)
            if not await tx.passkeys.delete(user_id, credential_id):
                raise NotFound("no such passkey")
            await refuse_if_left_alone(tx, user_id, password_fits_alone=alone, minimum=minimum)
            await audit(
                tx,
                "passkey_deleted",
                now=now,
                user_id=user_id,
                ip=client.ip,
                credential=credential_id,
            )

    async def _reauthenticate(
        self,
        user_id: str,
        session_id: str | None,
        password: str | None,
        client: ClientInfo,
    ) -> None:
        now = self.clock.now()
        if password is None:
            async with self.db.read() as tx:
                active = await tx.sessions.active(user_id, now)
            fresh = [s for s in active if s.id == session_id]
            if fresh and now - fresh[0].created_at <= self.settings.reauth_window:
                return
            raise InvalidCredentials("current_password is required (re-authentication)")
        await self._check_password(user_id, password, client)

    async def _check_password(self, user_id: str, password: str, client: ClientInfo) -> UserRecord:
        """The current password as a login attempt (login throttle, before the hash);
        returns the record it was checked against."""
        now = self.clock.now()
        self.hasher.check_length(password)
        async with self.db.read() as tx:
            row = await tx.users.get_record(user_id)
        account = row.username_key if row is not None else f"user-id:{user_id}"
        attempt = await self.throttle.reserve(account, client.ip)  # RateLimited
        async with attempt:
            if row is None or row.disabled:
                await self.hasher.verify_dummy(password)
                ok = False
            else:
                ok, _ = await self.hasher.verify(password, row.password_hash)
            if not ok:
                await attempt.failed()
                async with self.db.write() as tx:
                    await audit(tx, "passkey_reauth_failed", now=now, user_id=user_id, ip=client.ip)
                raise InvalidCredentials("the password is not correct")
            await attempt.succeeded()
        assert row is not None
        return row
