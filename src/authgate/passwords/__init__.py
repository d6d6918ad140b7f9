"""Password storage and policy: Argon2id in worker threads, legacy bcrypt upgrade,
and the rules for new passwords. Framework-free (imports no FastAPI).

:class:`PasswordHasher` is the one entry point; see ``_hasher`` for storage and
``_policy`` for which passwords are accepted.
"""

from __future__ import annotations

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.passwords._hasher import BCRYPT_MAX_BYTES, PasswordHasher
from authgate.passwords._policy import normalize

__all__ = ["BCRYPT_MAX_BYTES", "PasswordHasher", "normalize"]
