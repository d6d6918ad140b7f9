"""Keeps every instance's in-memory revocation state in step with the database log.

The database log is the only source of revocations. Redis carries hints, never
truth (SECURITY.md A.7 #50): a message on the channel is a *nudge* that makes this
instance read the log after the last ``seq`` it has seen, sooner than its poller
would; the message body is never parsed, so no message can un-revoke, shorten a
revocation, revoke beyond the database (RFC 7009 §2.2) or reload keys that the log
does not name. Nudges are coalesced: at most one read in flight and one queued,
so a flood of messages costs at most one read at a time.

Background tasks, started on open and stopped in ``aclose()``:

* the Redis subscriber (when ``redis_url`` is set) nudges on every message and on
  every (re)connect;
* the database poller replays new log rows by ``seq``: every 0.5 s while Redis is
  absent or unreachable, every 2 s as a backstop while it is healthy. PostgreSQL
  sequences can commit out of order, so a skipped ``seq`` is re-read for 10 s before
  it is taken as a rolled-back insert.

The instance that revokes applies the event locally before it returns, so a
revocation is never accepted on the instance that made it.

``aclose()`` lets a read in progress finish before it stops the readers: a read
cancelled mid-transaction leaves its connection to be closed after the event loop
is gone (aiosqlite logs "Exception closing connection" on every short-lived CLI
command that happened to close during a poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from authgate.clock import Clock
from authgate.domain import RevocationEvent
from authgate.errors import AuthError
from authgate.service.revocation import KIND_KEYS, RevocationState
from authgate.store.fanout import Fanout
from authgate.store.protocols import Store

__all__ = ["NUDGE", "RevocationSync", "SyncCounts"]

_log = logging.getLogger("authgate.service")
_GAP_TTL = 10.0
_MAX_GAPS = 10_000
#: How long ``aclose()`` waits for a read (or maintenance) in progress to end.
_STOP_GRACE = 10.0

#: What an instance publishes after a revocation commits. Receivers never read it:
#: every message, whatever its bytes, is the same nudge (SECURITY.md A.7 #50).
NUDGE = b"revocations"


@dataclass(slots=True)
class SyncCounts:
    """Plain counters for ``/metrics`` (the server layer exports them)."""

    #: Messages received on the revocation channel.
    messages: int = 0
    #: Messages that added nothing: a read of the log was already queued.
    coalesced: int = 0
    #: Reads of the revocation log, whatever triggered them (poll, nudge, reconnect).
    reads: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class RevocationSync:
    """Replays the revocation log into one instance's :class:`RevocationState`;
    Redis messages only make it read sooner (see the module docstring)."""

    def __init__(
        self,
        db: Store,
        state: RevocationState,
        *,
        clock: Clock,
        fanout: Fanout | None,
        poll_interval: float = 0.5,
        backstop_interval: float = 2.0,
        maintenance_interval: float = 30.0,
    ) -> None:
        self.db = db
        self.state = state
        self.clock = clock
        self.fanout = fanout
        self.on_keys: Callable[[], Awaitable[None]] = _nothing
        self.maintenance: Callable[[], Awaitable[None]] = _nothing
        self.poll_interval = poll_interval
        self.backstop_interval = backstop_interval
        self.maintenance_interval = maintenance_interval
        self._seq = 0
        self._gaps: dict[int, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._readers: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._pending: set[asyncio.Task[bool]] = set()
        self._poll_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._reading = False
        self.counts = SyncCounts()

    async def load(self) -> None:
        """Load every unexpired revocation (the database is the source of truth)."""
        async with self.db.read() as tx:
            self._seq = await tx.log.max_seq()
            rows = await tx.log.load_active(self.clock.now())
        for _, event in rows:
            self.state.apply(event)

    def start(
        self,
        *,
        on_keys: Callable[[], Awaitable[None]],
        maintenance: Callable[[], Awaitable[None]],
    ) -> None:
        """Start the background tasks: ``on_keys`` runs after a ``keys`` row,
        ``maintenance`` every ``maintenance_interval`` seconds."""
        self.on_keys = on_keys
        self.maintenance = maintenance
        self._readers.append(
            asyncio.create_task(self._poll_loop(), name="authgate-revocation-poll")
        )
        if self.fanout is not None:
            self._readers.append(
                asyncio.create_task(self._nudge_loop(), name="authgate-revocation-nudge")
            )
            self._tasks.append(
                asyncio.create_task(
                    self.fanout.run(self._on_message, self._on_connected), name="authgate-fanout"
                )
            )

    async def aclose(self) -> None:
        if self._pending:  # let queued publications go out, briefly
            await asyncio.wait(self._pending, timeout=1.0)
        self._stop.set()
        self._wake.set()  # the nudge reader wakes, sees the stop and returns
        readers, self._readers = self._readers, []
        if readers:  # a read in progress ends with its transaction
            await asyncio.wait(readers, timeout=_STOP_GRACE)
        tasks = [*readers, *self._tasks, *self._pending]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def emit(self, events: Iterable[RevocationEvent]) -> None:
        """Apply committed events locally now, then nudge the other instances."""
        events = list(events)
        for event in events:
            self.state.apply(event)
        if self.fanout is not None and events:
            # One nudge per commit, whatever it carried: the receivers read every new
            # row from the log. In the background: a slow or unreachable Redis never
            # delays the caller, and the other instances' pollers cover a lost message.
            task = asyncio.create_task(self.fanout.publish(NUDGE))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def nudge(self) -> bool:
        """Queue one read of the log; False when one is already queued (coalesced)."""
        if self._wake.is_set():
            return False
        self._wake.set()
        return True

    @property
    def idle(self) -> bool:
        """No read of the log is queued or running because of a nudge."""
        return not (self._wake.is_set() or self._reading)

    async def _on_message(self, data: bytes) -> None:
        # The body is never parsed or applied: Redis carries hints, never truth.
        self.counts.messages += 1
        if not self.nudge():
            self.counts.coalesced += 1

    async def _on_connected(self) -> None:
        # Anything published while we were away is caught up from the log.
        self.nudge()

    async def _nudge_loop(self) -> None:
        """One read of the log per nudge, one at a time; nudges arriving during a
        read queue exactly one more (the row they announce may have committed after
        the running read began)."""
        while True:
            await self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            self._reading = True
            try:
                await self.poll_once()
            except AuthError as exc:
                _log.warning("revocation read after a nudge failed: %s", exc)
                # The database is down: a flood of nudges must not become a tight loop.
                await self._pause(self.poll_interval)
            except Exception:  # never let the reader die: revocations depend on it
                _log.exception("revocation read after a nudge crashed; retrying")
                await self._pause(self.poll_interval)
            finally:
                self._reading = False

    async def _reload_keys(self) -> None:
        try:
            await self.on_keys()
        except AuthError as exc:
            _log.warning("could not reload signing keys: %s", exc)

    async def poll_once(self) -> None:
        """Apply log rows not seen yet; reload the signing keys when one is a
        ``keys`` row (the only way a key change reaches this instance)."""
        async with self._poll_lock:
            self.counts.reads += 1
            low = min(self._gaps) - 1 if self._gaps else self._seq
            async with self.db.read() as tx:
                rows = await tx.log.after(low)
            # Reload under the lock: a caller of poll_once() then sees the new keys.
            if self._apply_rows(rows):
                await self._reload_keys()

    def _apply_rows(self, rows: Sequence[tuple[int, RevocationEvent]]) -> bool:
        keys_changed = False
        mono = time.monotonic()
        for seq, event in rows:
            if seq <= self._seq and self._gaps.pop(seq, None) is None:
                continue  # already applied
            if seq > self._seq:
                for missing in range(self._seq + 1, min(seq, self._seq + 1 + _MAX_GAPS)):
                    self._gaps[missing] = mono
                self._seq = seq
            if event.kind == KIND_KEYS:
                keys_changed = True
            else:
                self.state.apply(event)
        for seq, seen in list(self._gaps.items()):
            if mono - seen > _GAP_TTL:
                del self._gaps[seq]
        return keys_changed

    async def _poll_loop(self) -> None:
        last_maintenance = time.monotonic()
        while True:
            healthy = self.fanout is not None and self.fanout.healthy
            if await self._pause(self.backstop_interval if healthy else self.poll_interval):
                return
            try:
                await self.poll_once()
                if time.monotonic() - last_maintenance >= self.maintenance_interval:
                    last_maintenance = time.monotonic()
                    await self.maintenance()
            except AuthError as exc:
                _log.warning("revocation poll failed: %s", exc)
            except Exception:  # never let the poller die: revocations depend on it
                _log.exception("revocation poll crashed; retrying")

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less when closing; True when closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()


async def _nothing() -> None:
    return None
