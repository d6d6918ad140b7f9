"""Keeps every instance's in-memory revocation state in step with the database log.

Two background tasks, started on open and stopped in ``aclose()``:

* the Redis subscriber (when ``redis_url`` is set) applies events within
  milliseconds, and catches up from the database on every (re)connect;
* the database poller replays new log rows by ``seq``: every 0.5 s while Redis is
  absent or unreachable, every 2 s as a backstop while it is healthy. PostgreSQL
  sequences can commit out of order, so a skipped ``seq`` is re-read for 10 s before
  it is taken as a rolled-back insert.

The instance that revokes applies the event locally before it returns, so a
revocation is never accepted on the instance that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from authgate.clock import Clock
from authgate.errors import AuthError
from authgate.service.revocation import KIND_KEYS, RevocationEvent, RevocationState
from authgate.store import revocations as log
from authgate.store.errors import store_errors
from authgate.store.fanout import Fanout
from authgate.store.url import READ_ONLY

__all__ = ["RevocationSync"]

_log = logging.getLogger("authgate.service")
_GAP_TTL = 10.0
_MAX_GAPS = 10_000


class RevocationSync:
    def __init__(
        self,
        engine: AsyncEngine,
        state: RevocationState,
        *,
        clock: Clock,
        fanout: Fanout | None,
        on_keys: Callable[[], Awaitable[None]],
        maintenance: Callable[[], Awaitable[None]],
        poll_interval: float = 0.5,
        backstop_interval: float = 2.0,
        maintenance_interval: float = 30.0,
    ) -> None:
        self.engine = engine
        self.state = state
        self.clock = clock
        self.fanout = fanout
        self.on_keys = on_keys
        self.maintenance = maintenance
        self.poll_interval = poll_interval
        self.backstop_interval = backstop_interval
        self.maintenance_interval = maintenance_interval
        self._seq = 0
        self._gaps: dict[int, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._poll_lock = asyncio.Lock()

    async def load(self) -> None:
        """Load every unexpired revocation (the database is the source of truth)."""
        with store_errors():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(**{READ_ONLY: True})
                async with conn.begin():
                    self._seq = await log.max_seq(conn)
                    rows = await log.load_active(conn, self.clock.now())
        for row in rows:
            self.state.apply(_event(row))

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="authgate-revocation-poll"))
        if self.fanout is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.fanout.run(self._on_message, self.poll_once), name="authgate-fanout"
                )
            )

    async def aclose(self) -> None:
        if self._pending:  # let queued publications go out, briefly
            await asyncio.wait(self._pending, timeout=1.0)
        tasks = [*self._tasks, *self._pending]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def emit(self, events: Iterable[RevocationEvent]) -> None:
        """Apply committed events locally now, then tell the other instances."""
        events = list(events)
        for event in events:
            self.state.apply(event)
        if self.fanout is not None and events:
            # In the background: a slow or unreachable Redis never delays the caller,
            # and the other instances' pollers cover a lost message.
            task = asyncio.create_task(self._publish(events))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _publish(self, events: list[RevocationEvent]) -> None:
        assert self.fanout is not None
        for event in events:
            await self.fanout.publish(event.to_bytes())

    async def _on_message(self, data: bytes) -> None:
        event = RevocationEvent.from_bytes(data)
        if event is None:
            return
        if event.kind == KIND_KEYS:
            await self._reload_keys()
        else:
            self.state.apply(event)

    async def _reload_keys(self) -> None:
        try:
            await self.on_keys()
        except AuthError as exc:
            _log.warning("could not reload signing keys: %s", exc)

    async def poll_once(self) -> None:
        """Apply log rows not seen yet."""
        async with self._poll_lock:
            low = min(self._gaps) - 1 if self._gaps else self._seq
            with store_errors():
                async with self.engine.connect() as conn:
                    conn = await conn.execution_options(**{READ_ONLY: True})
                    async with conn.begin():
                        rows = await log.fetch_after(conn, low)
            # Reload under the lock: a caller of poll_once() then sees the new keys.
            if self._apply_rows(rows):
                await self._reload_keys()

    def _apply_rows(self, rows: Sequence[Any]) -> bool:
        keys_changed = False
        mono = time.monotonic()
        for row in rows:
            seq = int(row.seq)
            if seq <= self._seq and self._gaps.pop(seq, None) is None:
                continue  # already applied
            if seq > self._seq:
                for missing in range(self._seq + 1, min(seq, self._seq + 1 + _MAX_GAPS)):
                    self._gaps[missing] = mono
                self._seq = seq
            event = _event(row)
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
            await asyncio.sleep(self.backstop_interval if healthy else self.poll_interval)
            try:
                await self.poll_once()
                if time.monotonic() - last_maintenance >= self.maintenance_interval:
                    last_maintenance = time.monotonic()
                    await self.maintenance()
            except AuthError as exc:
                _log.warning("revocation poll failed: %s", exc)
            except Exception:  # never let the poller die: revocations depend on it
                _log.exception("revocation poll crashed; retrying")


def _event(row: Any) -> RevocationEvent:
    return RevocationEvent(row.kind, row.key, float(row.value), float(row.expires_at))
