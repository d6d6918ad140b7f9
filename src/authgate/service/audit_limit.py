"""Bounded audit rows for failures that need no credentials, and the audit retention.

SECURITY.md A.7 #53 (ASVS 5.0 16.3.x; OWASP Logging CS, log flooding): anyone can
cause ``refresh_failed``, ``login_throttled`` and ``registration_throttled``, so a row
each would let a client grow the database without bound. Per event, in fixed windows
of ``audit.window`` seconds, a client IP gets a row for each of its first
``audit.rows_per_ip`` events, and the event for its first ``audit.rows_per_event`` in
all; every other one is counted in memory. When the window closes (at the next such
event, at the maintenance pass, or when the service closes) one summary row with the
same event name records the count: detail ``{"suppressed": n, "by_ip": {...},
"first": t, "last": t, ...}``. So an instance adds at most ``rows_per_event + 1`` rows
per event and window, and no occurrence goes uncounted.

The maintenance pass also deletes rows older than ``audit.retention_days``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from authgate.service.audit import audit
from authgate.settings import AuditSettings
from authgate.store.protocols import Transaction

__all__ = ["UNAUTHENTICATED_EVENTS", "AuditLimiter", "FailureAudit", "Summary"]

_log = logging.getLogger("authgate.service")

#: Events anyone can cause without credentials: their rows are bounded.
UNAUTHENTICATED_EVENTS = frozenset(
    {
        "refresh_failed",
        "login_throttled",
        "registration_throttled",
        "client_auth_failed",
        "client_throttled",
    }
)
#: Where the IPs beyond ``max_tracked_ips`` are counted together.
OTHER_IPS = "other"
_NO_IP = "-"
_TOP_IPS = 20
_DAY = 86_400.0


@dataclass(slots=True)
class _Window:
    start: float
    written: int = 0
    suppressed: int = 0
    first: float = 0.0
    last: float = 0.0
    #: ip -> [events seen, events suppressed]
    per_ip: dict[str, list[int]] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Summary:
    """One summary row: ``suppressed`` events of ``event`` that got no row of their own."""

    event: str
    ip: str | None
    at: float
    detail: dict[str, Any]


class AuditLimiter:
    """Decides which events get a row; counts the rest. Pure and synchronous (one
    event loop), so a burst of concurrent failures is counted exactly."""

    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self._windows: dict[str, _Window] = {}

    def admit(
        self, event: str, ip: str | None, now: float, reason: str | None = None
    ) -> tuple[bool, list[Summary]]:
        """Whether this event gets its own row, and the summaries now due for it."""
        s = self.settings
        due: list[Summary] = []
        window = self._windows.get(event)
        if window is not None and now >= window.start + s.window:
            due += self._close(event)
            window = None
        if window is None:
            window = self._windows[event] = _Window(start=now)
        key = ip or _NO_IP
        if key not in window.per_ip and len(window.per_ip) >= s.max_tracked_ips:
            key = OTHER_IPS
        counts = window.per_ip.setdefault(key, [0, 0])
        counts[0] += 1
        if counts[0] <= s.rows_per_ip and window.written < s.rows_per_event:
            window.written += 1
            return True, due
        counts[1] += 1
        if window.suppressed == 0:
            window.first = now
        window.suppressed += 1
        window.last = max(window.last, now)
        if reason is not None:
            window.reasons[reason[:80]] += 1
        return False, due

    def due(self, now: float) -> list[Summary]:
        """Summaries of every window that has closed by ``now``."""
        out: list[Summary] = []
        for event, window in list(self._windows.items()):
            if now >= window.start + self.settings.window:
                out += self._close(event)
        return out

    def drain(self) -> list[Summary]:
        """Summaries of every window, closed or not (the service is closing)."""
        out: list[Summary] = []
        for event in list(self._windows):
            out += self._close(event)
        return out

    def _close(self, event: str) -> list[Summary]:
        window = self._windows.pop(event)
        if window.suppressed == 0:
            return []
        by_ip = sorted(((ip, c[1]) for ip, c in window.per_ip.items() if c[1]), key=lambda x: -x[1])
        detail: dict[str, Any] = {
            "suppressed": window.suppressed,
            "window_start": window.start,
            "first": window.first,
            "last": window.last,
            "ips": len(by_ip),
            "by_ip": dict(by_ip[:_TOP_IPS]),
        }
        if window.reasons:
            detail["reasons"] = dict(window.reasons.most_common(10))
        only = by_ip[0][0] if len(by_ip) == 1 else None
        ip = None if only in (None, OTHER_IPS, _NO_IP) else only
        return [Summary(event, ip, window.last, detail)]


class FailureAudit:
    """Writes the rows :class:`AuditLimiter` lets through, and its summaries."""

    def __init__(
        self,
        settings: AuditSettings,
        write: Callable[[], AbstractAsyncContextManager[Transaction]],
    ) -> None:
        self.settings = settings
        self.limiter = AuditLimiter(settings)
        self._write = write
        self._pending: list[Summary] = []

    async def record(
        self, event: str, *, now: float, ip: str | None, reason: str | None = None
    ) -> None:
        """Audit one failure that needs no credentials (bounded, always counted)."""
        keep, due = self.limiter.admit(event, ip, now, reason)
        if not keep and not due and not self._pending:
            return
        detail = {} if reason is None else {"reason": reason}
        async with self._flushing(due) as tx:
            if keep:
                await audit(tx, event, now=now, ip=ip, **detail)

    async def flush(self, now: float, *, everything: bool = False) -> None:
        """Write the summaries due by ``now`` (all of them when ``everything``)."""
        due = self.limiter.drain() if everything else self.limiter.due(now)
        if due or self._pending:
            async with self._flushing(due):
                pass

    async def maintenance(self, now: float) -> None:
        """Flush closed windows; delete rows older than the retention."""
        await self.flush(now)
        async with self._write() as tx:
            gone = await tx.audit.purge_before(now - self.settings.retention_days * _DAY)
        if gone:
            _log.info("audit retention: deleted %d rows", gone)

    @asynccontextmanager
    async def _flushing(self, due: list[Summary]) -> AsyncIterator[Transaction]:
        """A write transaction that first writes the pending summaries. Summaries that
        could not be written (database down) wait for the next flush, so a count is
        never dropped while the process lives."""
        pending, self._pending = self._pending + due, []
        try:
            async with self._write() as tx:
                for s in pending:
                    await audit(tx, s.event, now=s.at, ip=s.ip, **s.detail)
                yield tx
        except BaseException:
            self._pending = pending + self._pending
            raise
