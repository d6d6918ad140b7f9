"""Proving an address: verification at registration, and address changes.

* Registration with an address queues a ``verify`` message in the registration's
  own transaction (:meth:`EmailVerification.queue_verification`).
* ``request_change`` re-authenticates with the current password (a login in
  disguise: the login throttle's attempt, A.7 #47) and sends a ``change`` token to
  the **new** address; the account keeps its old address until that token is used.
  The old address gets a notice with no link (nothing there can take the account).
* ``resend(user_id)`` queues a new ``verify`` message for the account's current,
  unverified address (the old message was lost or its link expired). Issuing it
  deletes the account's earlier ``verify`` token, so only the newest link works.
  Throttled per account and per IP before anything is looked at (A.7 #47).
* ``request(email=... | username=...)`` is the same for a signed-out user (whose
  login says ``email_not_verified``): anonymous, so it goes through the password
  reset's anti-enumeration path (:mod:`authgate.service.mail_request`): the same
  answer and work whether the account exists, is verified or has no address; its
  per-account count is the resend's.
* ``verify(token)`` takes the token (single use, atomic) and marks the address
  verified, or makes the new address the account's, verified.

Tokens follow SECURITY.md A.7 #57: 256 bits, stored as digests, at most
``email.token_ttl`` old, and dead once the account's credential version moved (a
password change, disable or logout-all) or a newer token of the same kind was issued.
"""

from __future__ import annotations

from authgate.clock import Clock
from authgate.domain import ClientInfo, User, UserRecord
from authgate.errors import (
    InvalidCredentials,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    NothingToVerify,
)
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit
from authgate.service.emails import NormalizedEmail, normalize_email
from authgate.service.mail_queue import MailQueue, new_email_token, token_digest
from authgate.service.mail_request import VERIFICATION, AccountMailRequests
from authgate.service.throttle import LoginThrottle
from authgate.settings import EmailSettings
from authgate.store.protocols import Store, Transaction

__all__ = ["EmailVerification"]

_DEAD_LINK = "the confirmation link is invalid, used or expired"


class EmailVerification:
    def __init__(
        self,
        db: Store,
        *,
        settings: EmailSettings,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        mail: MailQueue,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.throttle = throttle
        self.mail = mail
        self.requests = AccountMailRequests(
            db, settings=settings, clock=clock, throttle=throttle, mail=mail
        )

    async def queue_verification(
        self,
        tx: Transaction,
        user: User | UserRecord,
        mail: NormalizedEmail,
        *,
        credential_version: int = 0,  # a new account's version
    ) -> None:
        """In the caller's transaction: a ``verify`` token and its message. The
        account's earlier ``verify`` token dies (A.7 #57: one outstanding token)."""
        token, digest = new_email_token()
        now = self.clock.now()
        await tx.email_tokens.replace(
            digest,
            user_id=user.id,
            purpose="verify",
            credential_version=credential_version,
            now=now,
            expires_at=now + self.settings.token_ttl,
            email=mail.display,
            email_key=mail.key,
        )
        t = self.mail.templates
        message = t.render(
            "verify",
            mail.display,
            username=user.username,
            email=mail.display,
            link=t.link("/verify", token),
        )
        await self.mail.add(tx, message, now=now)

    def wake(self) -> None:
        """After the registration committed: the outbox worker may send now."""
        self.mail.wake()

    async def resend(self, user_id: str, *, client: ClientInfo | None = None) -> None:
        """Queue a new verification message for the account's unverified address.

        The throttle counts the request first, per IP and per account, each with one
        atomic increment, so a concurrent burst queues at most the limit of messages
        (A.7 #47); refused requests count too. The new token replaces the old one
        (A.7 #57), and carries the account's current credential version.

        Raises:
            NothingToVerify: the address is already verified, or there is none.
            NotFound: the account is gone or disabled.
            RateLimited: too many requests for the account or from the IP.
        """
        ip = client.ip if client is not None else None
        s = self.settings
        if ip is not None:
            await self.throttle.hit("verify-resend-ip", ip, limit=s.requests_per_ip_per_hour)
        await self.throttle.hit("verify-resend", user_id, limit=s.requests_per_hour)
        async with self.db.read() as tx:
            row = await tx.users.get_record(user_id)
        if row is None or row.disabled:
            raise NotFound("no such user")
        if row.email is None:
            raise NothingToVerify("the account has no email address")
        if row.email_verified:
            raise NothingToVerify("the email address is already verified")
        mail = normalize_email(row.email)
        now = self.clock.now()
        async with self.db.write() as tx:
            await self.queue_verification(tx, row, mail, credential_version=row.credential_version)
            await audit(tx, "email_verification_resent", now=now, user_id=row.id, ip=ip)
        self.mail.wake()

    async def request(
        self,
        *,
        email: str | None = None,
        username: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """A signed-out user's "send me a new verification link" (module docstring):
        a new ``verify`` message if the account exists, is enabled and its address is
        unverified; the earlier link dies (A.7 #57). Says nothing about accounts.

        Raises:
            InvalidRequest: neither or both of ``email``/``username``, or one that no
                account could have.
            RateLimited: too many requests from the IP, for the address or account.
        """
        await self.requests.request(VERIFICATION, email=email, username=username, client=client)

    async def request_change(
        self,
        user_id: str,
        new_email: str,
        current_password: str,
        *,
        client: ClientInfo | None = None,
    ) -> None:
        """Send a confirmation to ``new_email`` and a notice to the old address.

        Raises:
            InvalidRequest: a bad address or a missing password.
            InvalidCredentials: a wrong current password (counted by the throttle).
            RateLimited: too many attempts for the account or from the IP.
        """
        if not isinstance(current_password, str):
            raise InvalidRequest("current_password is required")
        self.hasher.check_length(current_password)
        mail = normalize_email(new_email)
        async with self.db.read() as tx:
            row = await tx.users.get_record(user_id)
        account = row.username_key if row is not None else f"user-id:{user_id}"
        ip = client.ip if client is not None else None
        await self.throttle.hit("email-change", account, limit=self.settings.requests_per_hour)
        attempt = await self.throttle.reserve(account, ip)
        async with attempt:
            if row is None or row.disabled:
                await self.hasher.verify_dummy(current_password)
                ok = False
            else:
                ok, _ = await self.hasher.verify(current_password, row.password_hash)
            if not ok:
                await attempt.failed()
                raise InvalidCredentials("the password is not correct")
            await attempt.succeeded()
        assert row is not None
        token, digest = new_email_token()
        t = self.mail.templates
        confirm = t.render(
            "email_change",
            mail.display,
            username=row.username,
            email=mail.display,
            link=t.link("/verify", token),
        )
        now = self.clock.now()
        async with self.db.write() as tx:
            await tx.email_tokens.replace(
                digest,
                user_id=row.id,
                purpose="change",
                credential_version=row.credential_version,
                now=now,
                expires_at=now + self.settings.token_ttl,
                email=mail.display,
                email_key=mail.key,
            )
            await self.mail.add(tx, confirm, now=now)
            if row.email:
                notice = t.render(
                    "email_change_notice", row.email, username=row.username, email=mail.display
                )
                await self.mail.add(tx, notice, now=now)
            await audit(tx, "email_change_requested", now=now, user_id=row.id, ip=ip)
        self.mail.wake()

    async def verify(self, token: str, *, client: ClientInfo | None = None) -> None:
        """Use a ``verify`` or ``change`` token.

        Raises:
            InvalidGrant: unknown, used, expired or superseded token.
            UsernameTaken: the new address became another account's meanwhile.
            RateLimited: too many attempts from the IP.
        """
        ip = client.ip if client is not None else None
        if ip is not None:
            limit = 2 * self.settings.requests_per_ip_per_hour
            await self.throttle.hit("verify-ip", ip, limit=limit)
        digest = token_digest(token)
        if digest is None:
            raise InvalidGrant(_DEAD_LINK)
        now = self.clock.now()
        async with self.db.write() as tx:
            taken = await tx.email_tokens.take(digest, ("verify", "change"))
            row = None
            if taken is not None and taken.user_id is not None:
                row = await tx.users.get_record(taken.user_id)
            if (
                taken is None
                or row is None
                or taken.expires_at <= now
                or taken.credential_version != row.credential_version
                or taken.email is None
                or taken.email_key is None
            ):
                raise InvalidGrant(_DEAD_LINK)
            if taken.purpose == "verify":
                if not await tx.users.mark_email_verified(row.id, taken.email_key):
                    raise InvalidGrant(_DEAD_LINK)  # the address changed since
                await audit(tx, "email_verified", now=now, user_id=row.id, ip=ip)
            else:
                await tx.users.set_email(
                    row.id, email=taken.email, email_key=taken.email_key, verified=True
                )
                # A reset link already sent to the old address must not outlive it.
                await tx.email_tokens.revoke(row.id, "reset")
                await audit(tx, "email_changed", now=now, user_id=row.id, ip=ip)
                await audit(tx, "email_verified", now=now, user_id=row.id, ip=ip)
