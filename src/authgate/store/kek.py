"""The key-encryption key (KEK) that seals private signing keys at rest.

AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce per seal and the ``kid``
as associated data, so a sealed key cannot be swapped onto another row. The KEK comes
from ``Settings.key_encryption_key`` or from a file (mode 0600, created on first start).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.errors import ConfigError, UnsafeKey
from authgate.store.files import make_private_dir

__all__ = ["KeyEncryptionKey", "load_or_create_kek"]

_NONCE = 12
_KEY_BYTES = 32
_MIN_PASSPHRASE = 32


class KeyEncryptionKey:
    """Seals and opens private JWKs. Never printed."""

    __slots__ = ("_aead", "_key")

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError("the key-encryption key must be 32 bytes")
        self._key = key
        self._aead = AESGCM(key)

    def subkey(self, purpose: bytes) -> bytes:
        """A 32-byte key for one other purpose, derived with HKDF-SHA256 (RFC 5869)
        under ``purpose`` as its info: independent of the sealing key and of every
        other purpose's."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=purpose)
        return hkdf.derive(self._key)

    @classmethod
    def from_text(cls, value: str) -> KeyEncryptionKey:
        """32 bytes as base64url (what ``load_or_create_kek`` writes), or a random
        passphrase of at least 32 characters stretched with HKDF-SHA256."""
        value = value.strip()
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == _KEY_BYTES:
            return cls(raw)
        if len(value) < _MIN_PASSPHRASE:
            raise ConfigError(
                "key_encryption_key must be 32 bytes in base64url or at least 32 characters"
            )
        hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=b"authgate-kek")
        return cls(hkdf.derive(value.encode()))

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """Raises UnsafeKey when the KEK is wrong or the row was tampered with."""
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
        except (InvalidTag, ValueError) as exc:
            raise UnsafeKey(
                "a stored signing key cannot be decrypted: wrong key-encryption key?"
            ) from exc

    def __repr__(self) -> str:
        return "<KeyEncryptionKey>"


def load_or_create_kek(path: Path) -> KeyEncryptionKey:
    """Read the KEK file, creating it (mode 0600) with 32 random bytes if missing.

    Raises:
        ConfigError: the file is readable by group or others, or is not a KEK.
    """
    make_private_dir(path.parent)  # SECURITY.md A.7 #52
    if not path.exists():
        # Write a private temp file, then link it into place: atomic, and a second
        # instance starting at the same time reads the winner's complete file.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode())
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} must not be readable by group or others (chmod 600)")
    return KeyEncryptionKey.from_text(path.read_text())
