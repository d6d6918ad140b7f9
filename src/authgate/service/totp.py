"""TOTP (RFC 6238) with ``pyotp``: secrets, ``otpauth://`` URIs, QR codes (``segno``),
and which time step a code belongs to.

RFC 6238 §5.2: a code is accepted for the current 30-second step and one step either
side (clock drift, the time it takes to type). RFC 4226 §7.2 / RFC 6238 §5.2: a code
must not be accepted twice; the caller stores the step a code matched and refuses any
code whose step is not later (:meth:`authgate.store.mfa.SqlSecondFactors.use_step`).
"""

from __future__ import annotations

import hmac
import io
import math

import pyotp
import segno

__all__ = ["STEP", "matching_step", "new_secret", "provisioning_uri", "qr_svg"]

#: RFC 6238 §4.1 X: 30 seconds.
STEP = 30
#: RFC 6238 §5.2: one step of drift either way.
_DRIFT = 1
_DIGITS = 6


def new_secret() -> str:
    """160 random bits (RFC 4226 §4 R6: at least 128; 160 recommended), base32."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps read (SHA-1, 6 digits, 30 s)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no external image, CSP-friendly)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode("utf-8")


def matching_step(secret: str, code: object, now: float) -> int | None:
    """The time step ``code`` is valid for at ``now`` (±1 step), or None.

    Every candidate step is computed and compared in constant time, so the answer
    takes the same work whether and where the code matched.
    """
    if not isinstance(code, str) or len(code) != _DIGITS or not code.isascii():
        return None
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = math.floor(now / STEP)
    found: int | None = None
    for step in range(current - _DRIFT, current + _DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found
