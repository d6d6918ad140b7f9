"""Prometheus metrics for one app, in the app's own ``CollectorRegistry`` (never the
global one, so several apps in a process, as in tests, do not collide).

- ``authgate_http_requests_total{method, route, status}`` and
  ``authgate_http_request_duration_seconds{method, route}``: a pure ASGI middleware;
  ``route`` is the route template (``/users/me/sessions/{session_id}``), never the raw
  path, so label cardinality stays bounded.
- ``authgate_security_events_total{event}``: a logging handler on ``authgate.audit``
  counts the service's security events.
- ``authgate_revocation_messages_total{outcome}`` and
  ``authgate_revocation_log_reads_total``: the revocation fan-out's counters, read
  from the service at scrape time (:class:`RevocationSyncCollector`). Each message on
  the Redis channel is only a hint to read the database log (SECURITY.md A.7 #50):
  ``outcome="read"`` queued a read, ``outcome="coalesced"`` was ignored because one
  was already queued. A flood shows as a growing ``coalesced`` count.
- ``authgate_email_outbox_pending`` and ``authgate_email_send_attempts_total{outcome}``:
  the email outbox (:class:`OutboxCollector`).

With ``AUTHGATE_METRICS_TOKEN`` set, ``/metrics`` answers only a request carrying it
as a bearer token (:func:`check_metrics_token`; RFC 6750 §3 401 otherwise).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.errors import BadSignature
from authgate.service.protocol import AUDIT_EVENTS, AUDIT_LOGGER
from authgate.web.transports import header_token

__all__ = [
    "AuditEventCounter",
    "Metrics",
    "MetricsMiddleware",
    "OutboxCollector",
    "RevocationSyncCollector",
    "check_metrics_token",
]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_EVENTS = AUDIT_EVENTS


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "authgate_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "authgate_http_request_duration_seconds",
            "HTTP request duration by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.security_events = Counter(
            "authgate_security_events_total",
            "Security events logged by the auth service.",
            ["event"],
            registry=self.registry,
        )


class AuditEventCounter(logging.Handler):
    """Counts ``authgate.audit`` records by their ``event`` (unknown names → "other")."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.INFO)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        name = event if isinstance(event, str) and event in _EVENTS else "other"
        # A summary row (SECURITY.md A.7 #53) stands for the events it counted.
        detail = getattr(record, "detail", None)
        count = detail.get("suppressed") if isinstance(detail, dict) else None
        amount = count if isinstance(count, int) and count > 0 else 1
        self.metrics.security_events.labels(event=name).inc(amount)

    def attach(self) -> None:
        logger = logging.getLogger(AUDIT_LOGGER)
        logger.addHandler(self)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)

    def detach(self) -> None:
        logging.getLogger(AUDIT_LOGGER).removeHandler(self)


class RevocationSyncCollector:
    """Exports the service's fan-out counters when ``/metrics`` is scraped. The
    service keeps plain integers (it imports no Prometheus); counting a message is two
    additions, never a log line, so a flood of messages is not a flood of logs."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        return self._families(self.counts())

    @staticmethod
    def _families(counts: Mapping[str, int]) -> Iterator[Metric]:
        messages = counts.get("messages", 0)
        coalesced = counts.get("coalesced", 0)
        family = CounterMetricFamily(
            "authgate_revocation_messages",
            "Messages on the revocation channel (hints only): read = queued a read of "
            "the database log, coalesced = ignored, a read was already queued.",
            labels=["outcome"],
        )
        family.add_metric(["read"], messages - coalesced)
        family.add_metric(["coalesced"], coalesced)
        yield family
        yield CounterMetricFamily(
            "authgate_revocation_log_reads",
            "Reads of the revocation log (poll, Redis message or reconnect).",
            value=counts.get("reads", 0),
        )


class OutboxCollector:
    """The email outbox (issue 16): messages waiting (an SMTP outage shows here while
    ``/readyz`` stays ready), and this instance's send attempts."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        return self._families(self.counts())

    @staticmethod
    def _families(counts: Mapping[str, int]) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "authgate_email_outbox_pending",
            "Email messages committed and not sent yet (as of the outbox's last pass).",
            value=counts.get("pending", 0),
        )
        family = CounterMetricFamily(
            "authgate_email_send_attempts",
            "Email send attempts by this instance.",
            labels=["outcome"],
        )
        family.add_metric(["sent"], counts.get("sent", 0))
        family.add_metric(["failed"], counts.get("failed", 0))
        yield family


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP request once, after routing labelled it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.duration.labels(method, template).observe(time.perf_counter() - start)


def check_metrics_token(scope: Scope, expected: str) -> None:
    """Let the request through only with ``Authorization: Bearer <expected>``,
    compared in constant time.

    Raises:
        MissingToken: no bearer token (401 with ``WWW-Authenticate``, RFC 6750 §3.1).
        MalformedToken: an unusable Authorization header.
        BadSignature: another token (401 ``invalid_token``).
    """
    token = header_token(scope)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise BadSignature("not the metrics token")
