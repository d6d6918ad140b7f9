"""A software authenticator: an EC P-256 key (``cryptography``) producing real
``authenticatorData`` and ``clientDataJSON`` and signing them as W3C WebAuthn L3
§6.1 / §6.3.3 describe, with attestation ``none`` (§8.7). What a browser would
fill in (origin, RP id) is a parameter, so a test can lie where an attacker would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    """Keeps its discoverable credentials, as a platform authenticator would."""

    origin: str
    credentials: list[Credential] = field(default_factory=list)
    #: Start counters at this value (0: an authenticator without a counter).
    counter_start: int = 1
    backup_eligible: bool = False

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.create()`` as JSON (``PublicKeyCredential.toJSON()``)."""
        rp = rp_id or options["rp"]["id"]
        cred = Credential(
            id=secrets.token_bytes(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64u(options["user"]["id"]),
            sign_count=self.counter_start,
        )
        flags = UP | AT | (UV if user_verified else 0) | (BE if self.backup_eligible else 0)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", cred.sign_count)
            + bytes(16)  # AAGUID: none
            + struct.pack(">H", len(cred.id))
            + cred.id
            + cred.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials.append(cred)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64u(cred.id),
            "rawId": b64u(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "attestationObject": b64u(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verified: bool = True,
    ) -> dict[str, Any]:
        """``navigator.credentials.get()`` as JSON: the counter goes up by one unless
        ``sign_count`` says what to report."""
        cred = credential or self.credentials[-1]
        if sign_count is None:
            if cred.sign_count:
                cred.sign_count += 1
            sign_count = cred.sign_count
        rp = rp_id or cred.rp_id
        flags = UP | (UV if user_verified else 0) | (BE if self.backup_eligible else 0)
        auth_data = hashlib.sha256(rp.encode()).digest() + bytes([flags])
        auth_data += struct.pack(">I", sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = cred.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64u(cred.id),
            "rawId": b64u(cred.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "authenticatorData": b64u(auth_data),
                "signature": b64u(signature),
                "userHandle": b64u(cred.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
