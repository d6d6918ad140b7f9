"""The email sent when a recovery code signs someone in (issue 17: using one is
notified when the account has a verified address)."""

from __future__ import annotations

from authgate.clock import Clock
from authgate.service.mail_queue import MailQueue
from authgate.store.protocols import Transaction

__all__ = ["RecoveryCodeNotice"]


class RecoveryCodeNotice:
    """A :data:`authgate.service.mfa_login.RecoveryNotice`: queued in the transaction
    that used the code, so the message exists exactly when the use does."""

    def __init__(self, mail: MailQueue, *, clock: Clock) -> None:
        self.mail = mail
        self.clock = clock

    async def __call__(self, tx: Transaction, user_id: str, codes_left: int) -> None:
        user = await tx.users.get(user_id)
        if user is None or not user.email or not user.email_verified:
            return  # never to an address its owner has not proved
        templates = self.mail.templates
        message = templates.render(
            "recovery_code_used",
            user.email,
            username=user.username,
            codes_left=codes_left,
            link=templates.link("/account"),
        )
        await self.mail.add(tx, message, now=self.clock.now())
        self.mail.wake()  # the worker's next pass finds it once the transaction commits
