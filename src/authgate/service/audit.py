"""Security events: a row in ``audit_events`` and a record on ``authgate.audit``.

OWASP Logging CS / SECURITY.md A.6 #45: every authentication event is logged, and
never a password, an access token or a refresh token — callers pass ids only.
"""

from __future__ import annotations

import logging
from typing import Any

from authgate.store.protocols import Transaction

__all__ = ["AUDIT_EVENTS", "AUDIT_LOGGER", "audit", "log_event"]

#: The logger of security events (re-exported by :mod:`authgate.service.protocol`).
AUDIT_LOGGER = "authgate.audit"

#: Every event name the service emits: ``/metrics`` counts each under its own label
#: (anything else is ``other``). A test derives the emitted names from the source and
#: fails when one is missing here.
AUDIT_EVENTS = frozenset(
    {
        "client_auth_failed",
        "client_throttled",
        "email_change_requested",
        "email_changed",
        "email_verification_resent",
        "email_verified",
        "key_promoted",
        "key_rotated",
        "login_failed",
        "login_ok",
        "login_throttled",
        "logout",
        "logout_all",
        "mfa_enrolled",
        "mfa_failed",
        "mfa_removed",
        "mfa_required",
        "mfa_throttled",
        "passkey_clone_suspected",
        "passkey_deleted",
        "passkey_login",
        "passkey_login_failed",
        "passkey_options_throttled",
        "passkey_reauth_failed",
        "passkey_registered",
        "password_change_failed",
        "password_changed",
        "password_reset_done",
        "password_reset_requested",
        "recovery_code_used",
        "recovery_codes_new",
        "refresh",
        "refresh_failed",
        "refresh_reuse",
        "registration_throttled",
        "revoke",
        "session_ended",
        "user_disabled",
        "user_imported_update",
        "user_registered",
        "user_scopes_changed",
    }
)

_log = logging.getLogger(AUDIT_LOGGER)
#: Events that signal an attack rather than a user's mistake (RFC 9700 §4.14.2: a
#: rotated refresh token came back) go out at WARNING, so an alert can key on the level.
_WARNING_EVENTS = frozenset({"refresh_reuse"})


def log_event(
    name: str,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    _log.log(
        logging.WARNING if name in _WARNING_EVENTS else logging.INFO,
        name,
        extra={
            "event": name,
            "user_id": user_id,
            "session_id": session_id,
            "ip": ip,
            "detail": detail,
        },
    )


async def audit(
    tx: Transaction,
    name: str,
    *,
    now: float,
    user_id: str | None = None,
    session_id: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    """Write the event in the caller's transaction, and log it."""
    await tx.audit.add(name, now=now, user_id=user_id, session_id=session_id, ip=ip, detail=detail)
    log_event(name, user_id=user_id, session_id=session_id, ip=ip, **detail)
