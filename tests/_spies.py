"""Real components that count what they do (spies, never stand-ins)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519

from authgate.tokens.keys import EdDSAKey


class CountingKey(EdDSAKey):
    """A real Ed25519 key that counts signature checks."""

    def __init__(self) -> None:
        super().__init__(ed25519.Ed25519PrivateKey.generate())
        self.verifies = 0

    def verify(self, data: bytes, signature: bytes) -> bool:
        self.verifies += 1
        return super().verify(data, signature)
