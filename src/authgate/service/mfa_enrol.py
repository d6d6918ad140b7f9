"""Enrolling and removing a TOTP factor, and the recovery codes.

* **Enrol** stores a pending factor (a new RFC 6238 secret sealed with the KEK) and
  returns the secret, its ``otpauth://`` URI and a QR code; a confirmed factor is
  never replaced this way (remove it first).
* **Confirm** takes a first code (reserved with the second-factor throttle before the
  check, SECURITY.md A.7 #47), marks the factor confirmed and its time step used, and
  returns ``mfa.recovery_codes`` new recovery codes: shown this once, stored as
  SHA-256 digests (random codes need no slow hash).
* **Remove** and **new recovery codes** need the current password again
  (re-authentication, checked as a login attempt of the login throttle). Removing the
  account's last second factor also needs a password fit to stand alone
  (:mod:`authgate.service.factor_rules`, SECURITY.md A.7 #58), judged under the row lock.
"""

from __future__ import annotations

import base64
import secrets

from authgate.clock import Clock
from authgate.domain import ClientInfo, MfaStatus, TotpEnrolment, UserRecord
from authgate.errors import InvalidCode, InvalidCredentials, InvalidRequest, NotFound
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit
from authgate.service.factor_rules import fits_alone, lock_at, refuse_if_left_alone
from authgate.service.second_step import recovery_digest
from authgate.service.throttle import LoginThrottle
from authgate.service.totp import matching_step, new_secret, provisioning_uri, qr_svg
from authgate.settings import MfaSettings
from authgate.store.protocols import Store, Transaction

__all__ = ["MfaEnrolments", "MfaStatus", "TotpEnrolment", "new_recovery_code"]


def new_recovery_code() -> str:
    """80 random bits as ``abcd-efgh-ijkl-mnop`` (base32, lower case)."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class MfaEnrolments:
    def __init__(
        self,
        db: Store,
        *,
        settings: MfaSettings,
        clock: Clock,
        hasher: PasswordHasher,
        login_throttle: LoginThrottle,
        mfa_throttle: LoginThrottle,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.login_throttle = login_throttle
        self.mfa_throttle = mfa_throttle

    async def status(self, user_id: str) -> MfaStatus:
        async with self.db.read() as tx:
            factor = await tx.factors.totp(user_id)
            left = await tx.factors.recovery_codes_left(user_id)
        return MfaStatus(
            totp=factor is not None and factor.confirmed,
            pending=factor is not None and not factor.confirmed,
            recovery_codes_left=left,
        )

    async def enrol_totp(self, user_id: str) -> TotpEnrolment:
        """Raises: NotFound (no such user), InvalidRequest (already enrolled)."""
        secret = new_secret()
        now = self.clock.now()
        async with self.db.write() as tx:
            username = await tx.users.username(user_id)
            if username is None:
                raise NotFound("no such user")
            if not await tx.factors.put_pending_totp(user_id, secret, now=now):
                raise InvalidRequest("a TOTP factor is already enrolled; remove it first")
        uri = provisioning_uri(secret, account=username, issuer=self.settings.totp_issuer)
        return TotpEnrolment(secret=secret, uri=uri, qr_svg=qr_svg(uri))

    async def confirm_totp(self, user_id: str, code: str, *, client: ClientInfo) -> list[str]:
        """The first code proves the enrolment; returns the new recovery codes.

        Raises:
            InvalidCode: the code is wrong (counted by the throttle).
            NotFound: no pending factor.
            RateLimited: too many wrong codes.
        """
        now = self.clock.now()
        attempt = await self.mfa_throttle.reserve(f"mfa:{user_id}", client.ip)
        async with attempt:
            async with self.db.write() as tx:
                factor = await tx.factors.totp(user_id)
                if factor is None or factor.confirmed:
                    raise NotFound("no TOTP enrolment is waiting for confirmation")
                step = matching_step(factor.secret, code, now)
                ok = step is not None and await tx.factors.use_step(user_id, step, confirm_at=now)
                codes: list[str] = []
                if ok:
                    codes = await self._new_codes(tx, user_id, now)
                    await audit(tx, "mfa_enrolled", now=now, user_id=user_id, ip=client.ip)
            if not ok:
                await attempt.failed()
                raise InvalidCode("the code is not valid")
            await attempt.succeeded()
        return codes

    async def remove_totp(self, user_id: str, password: str, *, client: ClientInfo) -> None:
        """Remove the TOTP factor and the recovery codes. When no passkey remains, the
        password must be fit to stand alone (module docstring).

        Raises:
            InvalidCredentials: a wrong password, or the credentials changed meanwhile.
            RateLimited: the login throttle.
            NotFound: no TOTP factor.
            PasswordRejected: the last second factor, and the password is too weak to
                be the only one: change it first.
        """
        row = await self._reauthenticate(user_id, password, client)
        alone = fits_alone(self.hasher, row, password)
        minimum = self.hasher.min_length(second_factor=False)
        now = self.clock.now()
        async with self.db.write() as tx:
            await lock_at(tx, user_id, row.credential_version)
            # A pending (unconfirmed) enrolment is no factor: cancelling it is always fine.
            confirmed = await tx.users.second_factor(user_id)
            if not await tx.factors.remove(user_id):
                raise NotFound("no second factor is enrolled")
            if confirmed:
                await refuse_if_left_alone(tx, user_id, password_fits_alone=alone, minimum=minimum)
            await audit(tx, "mfa_removed", now=now, user_id=user_id, ip=client.ip)

    async def regenerate_recovery_codes(
        self, user_id: str, password: str, *, client: ClientInfo
    ) -> list[str]:
        """New codes replace every old one. Raises: InvalidCredentials, RateLimited,
        NotFound (no confirmed factor)."""
        await self._reauthenticate(user_id, password, client)
        now = self.clock.now()
        async with self.db.write() as tx:
            factor = await tx.factors.totp(user_id)
            if factor is None or not factor.confirmed:
                raise NotFound("no second factor is enrolled")
            codes = await self._new_codes(tx, user_id, now)
            await audit(tx, "recovery_codes_new", now=now, user_id=user_id, ip=client.ip)
        return codes

    async def _new_codes(self, tx: Transaction, user_id: str, now: float) -> list[str]:
        codes = [new_recovery_code() for _ in range(self.settings.recovery_codes)]
        digests = [recovery_digest(c) for c in codes]
        await tx.factors.replace_recovery_codes(
            user_id, [d for d in digests if d is not None], now=now
        )
        return codes

    async def _reauthenticate(self, user_id: str, password: str, client: ClientInfo) -> UserRecord:
        """The current password, as a login attempt (login throttle, before the hash);
        returns the record it was checked against."""
        if not isinstance(password, str):
            raise InvalidRequest("password is required")
        self.hasher.check_length(password)
        async with self.db.read() as tx:
            row = await tx.users.get_record(user_id)
        account = row.username_key if row is not None else f"user-id:{user_id}"
        attempt = await self.login_throttle.reserve(account, client.ip)
        async with attempt:
            if row is None or row.disabled:
                await self.hasher.verify_dummy(password)
                ok = False
            else:
                ok, _ = await self.hasher.verify(password, row.password_hash)
            if not ok:
                await attempt.failed()
                raise InvalidCredentials("the password is not correct")
            await attempt.succeeded()
        assert row is not None
        return row
