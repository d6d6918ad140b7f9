"""Host rules shared by the settings check, ``authgate serve`` and the verifier."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` (any case, with or without the root dot) and any
    loopback IP literal (127.0.0.0/8, ``::1``, bracketed or not); False for
    anything else, ``None`` included. A name is never resolved: only a literal
    or ``localhost`` (RFC 6761 §6.3) is trusted to stay on the machine."""
    if host is None:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False
