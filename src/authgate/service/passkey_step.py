"""A passkey as the second step of a login (``webauthn`` in ``mfa_methods``).

The challenge is derived from the ``mfa_token``'s digest, so it needs no store of
its own: only the holder of the ``mfa_token`` (who passed the password) can ask for
the options, and the challenge is used once because the completion consumes the
``mfa_token`` in the transaction that verifies the assertion
(:mod:`authgate.service.mfa_login`). The credential must be the ``mfa_token`` user's;
user verification is preferred, not required (the password was the first factor);
the signature counter moves by compare-and-set in the same transaction (W3C
WebAuthn L3 §6.1.1, §7.2).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import orjson

from authgate.errors import AuthError
from authgate.service.second_step import StepProof
from authgate.service.webauthn_ceremony import (
    RelyingParty,
    assertion_options,
    challenge_of,
    credential_id_of,
    verify_assertion,
)
from authgate.store.protocols import Transaction

__all__ = ["WEBAUTHN_STEP", "WebAuthnStep", "mfa_challenge", "second_step_options"]

WEBAUTHN_STEP = "webauthn"


def mfa_challenge(mfa_token_digest: bytes) -> bytes:
    """The WebAuthn challenge of one pending login (unpredictable without the token)."""
    return hashlib.sha256(b"authgate webauthn second step\x00" + mfa_token_digest).digest()


async def second_step_options(
    tx: Transaction, rp: RelyingParty, user_id: str, mfa_token_digest: bytes
) -> dict[str, Any]:
    """Request options listing the user's passkeys (§5.5 ``allowCredentials``)."""
    return assertion_options(
        rp,
        challenge=mfa_challenge(mfa_token_digest),
        allow=await tx.passkeys.of_user(user_id),
        user_verification=False,
    )


class WebAuthnStep:
    """A passkey assertion (the ``webauthn`` parameter: the assertion JSON)."""

    name: str = WEBAUTHN_STEP
    #: RFC 8176 §2: proof of possession of a key kept in an authenticator.
    amr: tuple[str, ...] = ("hwk",)
    audit_event: str | None = None

    def __init__(self, rp: RelyingParty) -> None:
        self.rp = rp

    async def available(self, tx: Transaction, user_id: str) -> bool:
        return await tx.passkeys.count(user_id) > 0

    async def verify(self, tx: Transaction, attempt: StepProof) -> bool:
        try:
            credential = orjson.loads(attempt.proof)
            if not isinstance(credential, dict):
                return False
            challenge = challenge_of(credential)
            cid = credential_id_of(credential)
        except (orjson.JSONDecodeError, AuthError):
            return False
        if challenge != mfa_challenge(attempt.mfa_token_digest):
            return False
        passkey = await tx.passkeys.get(cid)
        if passkey is None or passkey.user_id != attempt.user_id:
            return False
        try:
            result = await asyncio.to_thread(
                verify_assertion,
                self.rp,
                credential,
                challenge=challenge,
                passkey=passkey,
                require_user_verification=False,
            )
        except AuthError:
            return False
        if result.counter_regressed:
            return False
        return await tx.passkeys.used(
            passkey.id,
            old_count=passkey.sign_count,
            new_count=result.sign_count,
            now=attempt.now,
            backed_up=result.backed_up,
        )
