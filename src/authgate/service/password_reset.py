"""Password reset by email (SECURITY.md A.7 #57; OWASP Forgot Password CS).

**Request.** ``request(email=... | username=...)`` answers the same way whether or not
an account exists, is disabled or has no address, and does the same work: the
throttle (per IP, per address or name, per account), one lookup, one rendered message,
and one write transaction with the same statements (a token row and an outbox row;
for no account both are born dead). A newer request deletes the account's older
tokens.

**Confirm.** The token (256 bits, stored as its SHA-256) must exist, be younger than
``email.token_ttl`` (≤ 30 min, injected clock), and belong to an account whose
credential version has not moved since (a password change, disable or logout-all
kills it). The new password is judged by the same policy, with the account's own
minimum (lower with a second factor, A.7 #58); then, in one transaction,
the token is taken (``DELETE ... RETURNING``: of a burst, one wins), the password is
stored by compare-and-set on the version, every session and access token is cut off
(as a password change does, A.7 #48) and a notice is queued.
"""

from __future__ import annotations

from authgate.clock import Clock
from authgate.domain import ClientInfo
from authgate.errors import InvalidGrant, InvalidRequest
from authgate.passwords import PasswordHasher
from authgate.service.audit import audit
from authgate.service.emails import normalize_email
from authgate.service.endings import Endings
from authgate.service.factor_rules import fits_alone, refuse_short_without_factor
from authgate.service.mail_queue import MailQueue, token_digest
from authgate.service.mail_request import NOBODY, PASSWORD_RESET, AccountMailRequests
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle
from authgate.settings import EmailSettings
from authgate.store.protocols import Store

__all__ = ["PasswordResets"]

_DEAD_LINK = "the reset link is invalid, used or expired"


class PasswordResets:
    def __init__(
        self,
        db: Store,
        *,
        settings: EmailSettings,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        endings: Endings,
        sync: RevocationSync,
        mail: MailQueue,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.hasher = hasher
        self.throttle = throttle
        self.endings = endings
        self.sync = sync
        self.mail = mail
        self.requests = AccountMailRequests(
            db, settings=settings, clock=clock, throttle=throttle, mail=mail
        )

    async def request(
        self,
        *,
        email: str | None = None,
        username: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Queue a reset message if the account exists (module docstring; the shared
        anti-enumeration path is :mod:`authgate.service.mail_request`).

        Raises:
            InvalidRequest: neither or both of ``email``/``username``, or one that no
                account could have (says nothing about accounts).
            RateLimited: too many requests from the IP, for the address or account.
        """
        await self.requests.request(PASSWORD_RESET, email=email, username=username, client=client)

    async def confirm(
        self, token: str, new_password: str, *, client: ClientInfo | None = None
    ) -> None:
        """Set the new password with a reset token (module docstring).

        Raises:
            InvalidGrant: the token is unknown, used, expired or superseded.
            PasswordRejected: the new password fails the policy (the token stays).
            InvalidRequest: a field is missing.
            RateLimited: too many attempts from the IP.
        """
        if not isinstance(token, str) or not isinstance(new_password, str):
            raise InvalidRequest("token and new_password are required")
        self.hasher.check_length(new_password)
        ip = client.ip if client is not None else None
        if ip is not None:
            limit = 2 * self.settings.requests_per_ip_per_hour
            await self.throttle.hit("reset-confirm-ip", ip, limit=limit)
        digest = token_digest(token)
        if digest is None:
            raise InvalidGrant(_DEAD_LINK)
        async with self.db.read() as tx:
            found = await tx.email_tokens.peek(digest)
            row = None
            if found is not None and found.user_id is not None and found.purpose == "reset":
                row = await tx.users.get_record(found.user_id)
        now = self.clock.now()
        if (
            found is None
            or row is None
            or row.disabled
            or found.expires_at <= now
            or found.credential_version != row.credential_version
            or found.email_key != _address_key(row.email)
        ):
            raise InvalidGrant(_DEAD_LINK)
        # The account's own minimum (SECURITY.md A.7 #58): lower with a second factor.
        self.hasher.check_policy(
            new_password, username=row.username, second_factor=row.second_factor
        )
        needs_factor = row.second_factor and not fits_alone(self.hasher, row, new_password)
        new_hash = await self.hasher.hash(new_password)
        templates = self.mail.templates
        notice = templates.render(
            "password_changed",
            row.email or NOBODY,
            username=row.username,
            link=templates.link("/"),
        )
        now = self.clock.now()
        async with self.db.write() as tx:
            taken = await tx.email_tokens.take(digest, ("reset",))
            if taken is None or taken.expires_at <= now or taken.user_id != row.id:
                raise InvalidGrant(_DEAD_LINK)  # another confirm won, or it expired
            version = taken.credential_version
            if not await tx.users.set_password(
                row.id, version=version, password_hash=new_hash, now=now
            ):
                raise InvalidGrant(_DEAD_LINK)  # the credentials changed meanwhile
            if needs_factor:  # the factor went meanwhile: the token stays (rolled back)
                minimum = self.hasher.min_length(second_factor=False)
                await refuse_short_without_factor(tx, row.id, minimum=minimum)
            events = await self.endings.cut_off(tx, row.id, version + 1, now)
            events += await self.endings.end_sessions(tx, user_id=row.id, reason="password_reset")
            if row.email:
                await self.mail.add(tx, notice, now=now)
            await audit(tx, "password_reset_done", now=now, user_id=row.id, ip=ip)
        await self.sync.emit(events)
        self.mail.wake()


def _address_key(email: str | None) -> str | None:
    """The uniqueness key of the account's address now: a reset link is bound to the
    address it was sent to (SECURITY.md A.7 #57)."""
    return None if email is None else normalize_email(email).key
