"""Password storage and policy: Argon2id in worker threads, imported hashes (bcrypt,
other Argon2, PBKDF2, scrypt) verified and upgraded, and the rules for new
passwords. Framework-free (imports no FastAPI).

:class:`PasswordHasher` is the one entry point; see ``_hasher`` for storage and
``_policy`` for which passwords are accepted.
"""

from __future__ import annotations

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.passwords._hasher import BCRYPT_MAX_BYTES, PasswordHasher
from authgate.passwords._legacy import LIMITS as HASH_LIMITS
from authgate.passwords._legacy import MalformedHash
from authgate.passwords._legacy import describe as describe_hash
from authgate.passwords._policy import normalize

__all__ = [
    "BCRYPT_MAX_BYTES",
    "HASH_LIMITS",
    "MalformedHash",
    "PasswordHasher",
    "describe_hash",
    "normalize",
]
