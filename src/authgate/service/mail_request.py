"""An anonymous request for a message with a link (SECURITY.md A.7 #57; OWASP Forgot
Password CS): the password reset and the verification message a signed-out user
asks for again.

Anyone may ask, naming an address or a username, so the request must not say whether
an account matched, nor show it in the work done. :meth:`AccountMailRequests.request`
does the same thing whatever it finds (no account, a disabled one, one without an
address, one the kind does not apply to):

1. the throttle, each count one atomic increment before anything is looked at
   (A.7 #47): per IP, per address or name, then per account (the name for no
   account), so a burst queues at most the limit of messages;
2. one lookup;
3. one rendered message (to ``nobody@example.invalid`` when nothing is to be sent);
4. one write transaction with the same statements: a token row that replaces the
   account's earlier ones of its purpose (one outstanding link, under the store's
   per-account lock) and an outbox row; when nothing is to be sent both are born
   dead (no owner, already expired; the outbox row already done);
5. an audit row saying whether a message went out.

A :class:`RequestKind` says what differs: the throttle buckets, the token's purpose,
the template and the page of its link, the audit event, and which accounts get a
live message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from authgate.clock import Clock
from authgate.domain import ClientInfo, UserRecord
from authgate.errors import InvalidRequest
from authgate.service.audit import audit
from authgate.service.emails import normalize_email
from authgate.service.mail_queue import MailQueue, new_email_token
from authgate.service.throttle import LoginThrottle
from authgate.service.users import normalize_username
from authgate.settings import EmailSettings
from authgate.store.protocols import Store

__all__ = ["PASSWORD_RESET", "VERIFICATION", "AccountMailRequests", "RequestKind"]

#: Where a message nobody gets is addressed (RFC 2606 §2: never routable).
NOBODY = "nobody@example.invalid"
#: The address a dead verification token carries (a valid syntax, RFC 2606 §3).
_NO_ADDRESS = "nobody@example.com"


@dataclass(frozen=True, slots=True)
class RequestKind:
    """What one kind of request sends, and to which accounts."""

    #: Throttle buckets: per IP, per address or name, per account.
    ip_bucket: str
    target_bucket: str
    account_bucket: str
    #: The email token's purpose (the one outstanding token of the account).
    purpose: str
    template: str
    #: The page the link opens (the token travels in its fragment).
    page: str
    audit_event: str
    #: Whether this account gets a live message (it exists, is enabled, has an address).
    wants: Callable[[UserRecord], bool]
    #: The token records the address it proves (``verify`` marks that one verified).
    binds_address: bool = False
    audit_detail: Mapping[str, str] = field(default_factory=dict)


PASSWORD_RESET = RequestKind(
    ip_bucket="reset-ip",
    target_bucket="reset-target",
    account_bucket="reset-account",
    purpose="reset",
    template="reset",
    page="/reset",
    audit_event="password_reset_requested",
    wants=lambda user: not user.disabled and user.email is not None,
    # The link works only while the account still has the address it went to: a
    # lookup read before an address change (import --update, a confirmed change)
    # must not leave the old mailbox a live link (SECURITY.md A.7 #57).
    binds_address=True,
)

#: The signed-out "send me a new verification link": its per-account bucket is the
#: signed-in resend's (``verify-resend``), so the two together queue at most
#: ``email.requests_per_hour`` messages for an account.
VERIFICATION = RequestKind(
    ip_bucket="verify-request-ip",
    target_bucket="verify-request-target",
    account_bucket="verify-resend",
    purpose="verify",
    template="verify",
    page="/verify",
    audit_event="email_verification_resent",
    wants=lambda user: not user.disabled and user.email is not None and not user.email_verified,
    binds_address=True,
    audit_detail={"reason": "request"},
)


class AccountMailRequests:
    def __init__(
        self,
        db: Store,
        *,
        settings: EmailSettings,
        clock: Clock,
        throttle: LoginThrottle,
        mail: MailQueue,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.throttle = throttle
        self.mail = mail

    async def request(
        self,
        kind: RequestKind,
        *,
        email: str | None = None,
        username: str | None = None,
        client: ClientInfo | None = None,
    ) -> None:
        """Queue ``kind``'s message if an account it applies to matches (module
        docstring: the same work whether or not one does).

        Raises:
            InvalidRequest: neither or both of ``email``/``username``, or one that no
                account could have (says nothing about accounts).
            RateLimited: too many requests from the IP, for the address or account.
        """
        if (email is None) == (username is None):
            raise InvalidRequest("give either email or username")
        if email is not None:
            target = "email:" + normalize_email(email).key
        else:
            target = "user:" + normalize_username(username)[1]
        ip = client.ip if client is not None else None
        s = self.settings
        if ip is not None:
            await self.throttle.hit(kind.ip_bucket, ip, limit=s.requests_per_ip_per_hour)
        await self.throttle.hit(kind.target_bucket, target, limit=s.requests_per_hour)
        user = await self._lookup(target)
        await self.throttle.hit(
            kind.account_bucket, user.id if user is not None else target, limit=s.requests_per_hour
        )
        live = user if user is not None and kind.wants(user) else None
        address = normalize_email(live.email if live is not None else _NO_ADDRESS)
        token, digest = new_email_token()
        templates = self.mail.templates
        message = templates.render(
            kind.template,
            address.display if live is not None else NOBODY,
            username=live.username if live is not None else "",
            email=address.display,
            link=templates.link(kind.page, token),
        )
        now = self.clock.now()
        async with self.db.write() as tx:
            await tx.email_tokens.replace(
                digest,
                user_id=live.id if live is not None else None,
                purpose=kind.purpose,
                credential_version=user.credential_version if user is not None else 0,
                now=now,
                expires_at=now + s.token_ttl if live is not None else now,
                email=address.display if kind.binds_address else None,
                email_key=address.key if kind.binds_address else None,
            )
            await self.mail.add(tx, message, now=now, void=live is None)
            await audit(
                tx,
                kind.audit_event,
                now=now,
                user_id=user.id if user is not None else None,
                ip=ip,
                sent=live is not None,
                **kind.audit_detail,
            )
        self.mail.wake()

    async def _lookup(self, target: str) -> UserRecord | None:
        kind, _, key = target.partition(":")
        if kind == "email":
            async with self.db.read() as tx:
                return await tx.users.by_email_key(key)
        return await self.db.run_read(lambda w: w.user_by_key(key))
