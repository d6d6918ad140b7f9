"""Every audit event the code emits is in ``AUDIT_EVENTS``, so ``/metrics`` counts it
under its own name (not ``other``) and the protocol's docstring lists it. The names
are read from the source, so a new event cannot be forgotten."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import authgate
from authgate.server.metrics import AuditEventCounter, Metrics
from authgate.service import protocol
from authgate.service.audit import AUDIT_EVENTS

SOURCE = Path(authgate.__file__).parent
_NAME = re.compile(r"^[a-z]+(_[a-z]+)*$")
#: Calls that take an event name as a literal: ``audit(tx, name)``, ``log_event(name)``,
#: ``failure_audit.record(name)``.
_EMITTERS = {"audit", "log_event", "record"}
#: Keywords / fields that carry an event name on its way to ``audit``.
_CARRIERS = {"event", "audit_event"}


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _NAME.match(node.value) else None
    return None


def emitted_names() -> dict[str, str]:
    """Event name -> the first module that emits it."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        where = str(path.relative_to(SOURCE))
        for node in ast.walk(ast.parse(path.read_text(), filename=where)):
            names: list[str | None] = []
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if called in _EMITTERS:
                    names += [_literal(a) for a in node.args[:2]]
                names += [_literal(k.value) for k in node.keywords if k.arg in _CARRIERS]
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id in _CARRIERS
            ):
                names.append(_literal(node.value))
            for name in names:
                if name is not None:
                    found.setdefault(name, where)
    return found


def test_the_source_scan_finds_the_events_it_must() -> None:
    names = emitted_names()
    # Emitted in four different ways: a literal to audit(), to failure_audit.record(),
    # a keyword carried to audit(), a field default (the recovery-code step).
    assert {"login_failed", "client_auth_failed", "user_disabled", "recovery_code_used"} <= set(
        names
    )
    assert len(names) >= 35


def test_every_emitted_event_is_registered_and_nothing_registered_is_stale() -> None:
    names = emitted_names()
    missing = {n: where for n, where in names.items() if n not in AUDIT_EVENTS}
    assert missing == {}
    assert AUDIT_EVENTS - set(names) == set()


def test_the_protocol_docstring_lists_every_event() -> None:
    doc = protocol.__doc__ or ""
    assert sorted(n for n in AUDIT_EVENTS if f"``{n}``" not in doc) == []


def test_metrics_count_every_registered_event_under_its_own_name() -> None:
    metrics = Metrics()
    counter = AuditEventCounter(metrics)
    for name in [*sorted(AUDIT_EVENTS), "not_an_event"]:
        record = logging.LogRecord("authgate.audit", logging.INFO, __file__, 1, name, None, None)
        record.event = name
        counter.emit(record)
    for name in AUDIT_EVENTS:
        value = metrics.registry.get_sample_value("authgate_security_events_total", {"event": name})
        assert value == 1.0, name
    other = metrics.registry.get_sample_value("authgate_security_events_total", {"event": "other"})
    assert other == 1.0
