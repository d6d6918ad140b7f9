"""The outbox worker: sends the messages requests committed, never in a request.

A request writes its message into ``email_outbox`` in its own transaction, so a
message exists exactly when the change that caused it was committed. This worker,
started with the service (like the maintenance pass), claims due messages under a
lease (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL: with several instances
one claims each message), sends them, and marks them sent. A failure releases the
message for a retry after ``2^attempts`` seconds (capped); a crash leaves the lease to
expire and the message is sent by the next pass, here or elsewhere. The only window
for a second copy is a crash after the SMTP server accepted a message and before it
was marked sent (at-least-once there; never on the normal path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from authgate.clock import Clock
from authgate.errors import AuthError
from authgate.service.mailer import EmailSender, Message, SendFailed
from authgate.settings import EmailSettings
from authgate.store.email import OutboxMessage
from authgate.store.protocols import Store

__all__ = ["OutboxWorker"]

_log = logging.getLogger("authgate.email")
#: Sent rows (bodies already blanked) are kept this long, then purged.
SENT_RETENTION = 86_400.0


class OutboxWorker:
    def __init__(
        self, db: Store, sender: EmailSender, settings: EmailSettings, *, clock: Clock
    ) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.clock = clock
        self.owner = secrets.token_hex(8)
        #: Messages not sent yet, as of the last pass (``/metrics``); None before one.
        self.pending: int | None = None
        self.sent_count = 0
        self.failed_count = 0
        # Claim no more than can be sent before the lease ends, even if each send
        # takes its whole timeout.
        self.batch = max(1, int(settings.lease // (2 * settings.timeout)))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """A message was committed: run a pass now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="authgate-outbox")

    async def aclose(self) -> None:
        """Stop after the pass in progress (a pass cancelled mid-transaction would
        leave its database connection to be closed after the event loop is gone);
        cancelled only if it outlasts a send timeout and a margin."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.settings.timeout + 5.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                while await self.run_once() == self.batch and not self._stopping:
                    pass  # more may be due
            except AuthError as exc:  # the database is down: try again next poll
                _log.warning("outbox pass failed: %s", exc)
            except Exception:  # the worker must outlive any one bad pass
                _log.exception("outbox pass failed")
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
            self._wake.clear()

    async def run_once(self) -> int:
        """One pass: claim, send, record. Returns how many messages were claimed.

        Raises:
            StoreUnavailable: the database cannot be reached.
        """
        now = self.clock.now()
        async with self.db.read() as tx:
            self.pending = await tx.outbox.pending()
        if not self.pending:
            return 0
        async with self.db.write() as tx:
            batch = await tx.outbox.claim(
                self.owner, now=now, lease=self.settings.lease, limit=self.batch
            )
        # The batch goes out concurrently (each send bounded by the timeout, so all
        # end well within the lease); one transaction records the outcomes.
        outcomes = await asyncio.gather(*(self._send(m) for m in batch))
        async with self.db.write() as tx:
            for m, error in zip(batch, outcomes, strict=True):
                now = self.clock.now()
                if error is None:
                    self.sent_count += 1
                    await tx.outbox.sent(m.id, self.owner, now=now)
                    continue
                self.failed_count += 1
                _log.warning("email %d not sent (attempt %d): %s", m.id, m.attempts, error)
                retry_at = self._retry_at(m.attempts)
                await tx.outbox.failed(m.id, self.owner, retry_at=retry_at, error=error, now=now)
        return len(batch)

    async def _send(self, m: OutboxMessage) -> str | None:
        """Send one message; the error in one line, or None when it was handed over."""
        try:
            await self.sender.send(Message(m.recipient, m.subject, m.text_body, m.html_body))
        except SendFailed as exc:
            return str(exc)
        return None

    def _retry_at(self, attempts: int) -> float | None:
        if attempts >= self.settings.max_attempts:
            return None
        return self.clock.now() + min(2.0**attempts, self.settings.max_backoff)

    async def maintenance(self, now: float) -> None:
        async with self.db.write() as tx:
            await tx.outbox.purge_sent(now - SENT_RETENTION)
            await tx.email_tokens.purge_expired(now)
