"""The second step of a login, as pluggable methods (ARCHITECTURE.md, "Second factors").

A :class:`SecondStepMethod` names itself (``name``: the ``mfa_methods`` entry of the
``mfa_required`` answer and the token-request parameter that carries its proof),
says which RFC 8176 ``amr`` values it proves, whether a user can use it, and
verifies a proof *inside the caller's write transaction*, consuming it there
(compare-and-set): the transaction also consumes the ``mfa_token`` and opens the
session, so either all of it commits or none. A new method (a passkey assertion,
say) is one more object given to :class:`SecondSteps.register`; the login logic
(:mod:`authgate.service.mfa_login`) does not change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from authgate.errors import InvalidRequest
from authgate.service.totp import matching_step
from authgate.store.protocols import Transaction

__all__ = [
    "OtpStep",
    "RecoveryCodeStep",
    "SecondStepMethod",
    "SecondSteps",
    "StepProof",
    "recovery_digest",
    "typed_code",
]


@dataclass(frozen=True, slots=True)
class StepProof:
    """What a method judges: the user the ``mfa_token`` names, the proof sent, the
    time, and the token's digest (a method may bind its own challenge to it)."""

    user_id: str
    proof: str
    now: float
    mfa_token_digest: bytes


class SecondStepMethod(Protocol):
    #: The ``mfa_methods`` entry and the name of the parameter carrying the proof.
    name: str
    #: RFC 8176 values this method proves (the login adds ``pwd`` and ``mfa``).
    amr: tuple[str, ...]
    #: The audit event of a success, if it deserves one of its own.
    audit_event: str | None

    async def available(self, tx: Transaction, user_id: str) -> bool:
        """Whether the user can complete a login with this method."""
        ...

    async def verify(self, tx: Transaction, attempt: StepProof) -> bool:
        """True when the proof is right, consumed in ``tx`` (used once)."""
        ...


class SecondSteps:
    """The registry of second-step methods, in the order ``mfa_methods`` lists them."""

    def __init__(self, methods: tuple[SecondStepMethod, ...] = ()) -> None:
        self._methods: dict[str, SecondStepMethod] = {}
        for method in methods:
            self.register(method)

    def register(self, method: SecondStepMethod) -> None:
        if method.name in self._methods:
            raise ValueError(f"second-step method {method.name!r} is already registered")
        self._methods[method.name] = method

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._methods)

    def get(self, name: str) -> SecondStepMethod | None:
        return self._methods.get(name)

    async def available(self, tx: Transaction, user_id: str) -> tuple[str, ...]:
        return tuple([m.name for m in self._methods.values() if await m.available(tx, user_id)])


class OtpStep:
    """A TOTP code (RFC 6238), each time step accepted once."""

    name: str = "otp"
    amr: tuple[str, ...] = ("otp",)
    audit_event: str | None = None

    async def available(self, tx: Transaction, user_id: str) -> bool:
        factor = await tx.factors.totp(user_id)
        return factor is not None and factor.confirmed

    async def verify(self, tx: Transaction, attempt: StepProof) -> bool:
        factor = await tx.factors.totp(attempt.user_id)
        if factor is None or not factor.confirmed:
            return False
        step = matching_step(factor.secret, attempt.proof, attempt.now)
        if step is None:
            return False
        return await tx.factors.use_step(attempt.user_id, step, confirm_at=None)


#: Ten groups of four base32 characters in two halves: ``abcd-efgh`` (80 bits is
#: far beyond guessing within the throttle; the separator and case are forgiven).
_RECOVERY_SHAPE = re.compile(r"[a-z2-7]{16}")


def recovery_digest(code: object) -> bytes | None:
    """SHA-256 of a normalised recovery code, or None for anything not shaped like one.

    A fast hash is enough: the codes are random (80 bits), so there is no dictionary
    to run a stolen digest against, unlike a password (SECURITY.md A.4 #24's reasoning
    for refresh tokens)."""
    if not isinstance(code, str) or len(code) > 64:
        return None
    clean = code.strip().lower().replace("-", "").replace(" ", "")
    if not _RECOVERY_SHAPE.fullmatch(clean):
        return None
    return hashlib.sha256(clean.encode("ascii")).digest()


class RecoveryCodeStep:
    """One of the user's single-use recovery codes."""

    name: str = "recovery_code"
    #: RFC 8176 §2 "otp": a one-time password (each code works once).
    amr: tuple[str, ...] = ("otp",)
    audit_event: str | None = "recovery_code_used"

    async def available(self, tx: Transaction, user_id: str) -> bool:
        return await tx.factors.recovery_codes_left(user_id) > 0

    async def verify(self, tx: Transaction, attempt: StepProof) -> bool:
        digest = recovery_digest(attempt.proof)
        if digest is None:
            return False
        return await tx.factors.use_recovery_code(attempt.user_id, digest, now=attempt.now)


def typed_code(code: str) -> tuple[str, str]:
    """The ``(method, proof)`` of a code typed into one box (the sign-in page's code
    form, the cookie transport's ``/cookie/mfa``): blanks around it dropped, digits
    are a TOTP code (RFC 6238 §5.3), anything else a recovery code.

    Raises:
        InvalidRequest: nothing but blanks.
    """
    clean = code.strip()
    if not clean:
        raise InvalidRequest("code: enter a code")
    return (OtpStep.name if clean.isdigit() else RecoveryCodeStep.name), clean
