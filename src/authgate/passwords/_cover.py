"""Cover for the legacy cost band (SECURITY.md A.7 #54).

An imported hash keeps its old cost until the user's next login: a Django account
costs a PBKDF2 run of 1,000,000 iterations or more, many times an Argon2id verify. If an
unknown username always cost one Argon2id verify, the answer time would tell an
imported account from a name that does not exist. So the hasher keeps one sample
hash per cost *profile* it has seen (format and parameters: ``bcrypt 12``,
``pbkdf2_sha256$1000000``, ``argon2id m=65536,t=3,p=4``), seeded from the database when the
service opens and learnt at every verification, and an unknown username spends one
verification on the sample its keyed hash picks, or the ordinary Argon2id dummy. The
pick is a keyed HMAC of the name (a random key per process): the same name costs the
same each time, and the names spread over every profile present, so no time band
belongs to existing accounts only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading

__all__ = ["CostCover", "profile_of"]

#: A bound on remembered profiles: an import of hashes with ever-new parameters
#: cannot grow this without limit.
MAX_PROFILES = 64

_PROFILE = re.compile(
    r"(\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+)\$"
    r"|(\$2[aby]\$\d\d)\$"
    r"|(\$pbkdf2-sha256\$\d+)\$"
    r"|(pbkdf2_sha256\$\d+)\$"
    r"|(pbkdf2:sha256:\d+)\$"
    r"|(scrypt:\d+:\d+:\d+)\$"
)


def profile_of(stored: str) -> str | None:
    """The format and cost parameters of ``stored``, or None for an unknown format."""
    found = _PROFILE.match(stored)
    if found is None:
        return None
    return next(group for group in found.groups() if group is not None)


class CostCover:
    """One sample hash per cost profile, and the pick for an unknown name."""

    def __init__(self, own_profile: str) -> None:
        self._own = own_profile
        self._key = secrets.token_bytes(32)
        self._samples: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, stored: str) -> None:
        """Remember ``stored`` when its profile is new (and not authgate's own)."""
        profile = profile_of(stored)
        if profile is None or profile == self._own or profile in self._samples:
            return
        with self._lock:
            if len(self._samples) < MAX_PROFILES:
                self._samples.setdefault(profile, stored)

    def pick(self, name: str) -> str | None:
        """The sample an unknown ``name`` is verified against, or None for the
        ordinary Argon2id dummy."""
        samples = list(self._samples.values())
        if not samples:
            return None
        digest = hmac.new(self._key, name.encode("utf-8", "replace"), hashlib.sha256).digest()
        index = int.from_bytes(digest[:8], "big") % (len(samples) + 1)
        return None if index == len(samples) else samples[index]
