"""``authgate check`` on the stored signing keys (SECURITY.md A.7 #49).

Beside the settings rules of :mod:`authgate.server.check`: reads the database (never
creates or migrates it) and says what the next start does to the keys: the
configured key replaces the active one, or it was retired as compromised and the
start will be refused.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from authgate.errors import AuthError
from authgate.server.check import Problem
from authgate.settings import Settings

__all__ = ["stored_key_problems"]

_TIMEOUT = 10.0


def stored_key_problems(settings: Settings) -> list[Problem]:
    """A warning when the configured key will replace the active stored key, an error
    when it was retired as compromised; nothing when the database cannot be read (the
    settings rules report bad key material)."""
    try:
        from authgate.service.keyconfig import configured_setting, pending_replacement
    except ModuleNotFoundError:  # the service layer is optional for ``authgate check``
        return []
    try:  # bounded: an unreachable database must not hang ``authgate check``
        pending = asyncio.run(asyncio.wait_for(pending_replacement(settings), _TIMEOUT))
    except (AuthError, TimeoutError):
        return []
    if pending is None:
        return []
    level: Literal["error", "warning"] = "error" if pending.refused else "warning"
    return [Problem(level, configured_setting(settings), pending.message)]
