"""In-memory revocation state: the O(1) check on every access-token verification.

Three dicts, no I/O (SECURITY.md A.4 #31–#33):

* ``jti`` → exp: single access tokens denied by logout / RFC 7009 revocation,
  keyed by ``jti`` and never by the token string (A.4 #32: signature malleability);
* ``sid`` → purge time: ended sessions; every access token carries its session id,
  so ending a session kills its access tokens (RFC 9700 §4.14.2 reuse detection);
* ``sub`` → tokens_valid_after: everything a user held before a cut-off
  (logout everywhere, password change, disable).

The ``iat`` claim has one-second granularity. Every cut-off also ends the user's
sessions, so the ended-``sid`` set catches tokens issued earlier in the cut-off's own
second; the ``sub`` rule therefore compares ``iat < floor(valid_after)`` for tokens
with a ``sid`` — a token from a session created after the cut-off (a new login, or the
session kept by a password change, which gets a new id) works even within the same
second. Tokens without a ``sid`` (none are issued by authgate) get the conservative
``iat < ceil(valid_after)``: one issued in the cut-off second fails.

The ``iat`` rule alone cannot tell a token of a login that raced the cut-off from one
issued just after it. So every access token also carries ``gen``, the user's
credential version the login was checked against (``users.credential_version``), and
every cut-off also logs a ``gen`` event: the first version still valid. A token with
``gen`` is judged by it alone (``gen < cut``): exact, whatever the clocks say
(SECURITY.md A.7 #48). The ``iat`` rule remains for tokens without ``gen`` and for
users whose only cut-off predates it.

The database log (``revocations`` table) is the source of truth: it is loaded on
open and replayed by :mod:`authgate.service.sync`.
"""

from __future__ import annotations

import math

from authgate.domain import RevocationEvent
from authgate.tokens import VerifiedToken
from authgate.tokens.claims import MAX_LEEWAY

__all__ = [
    "GENERATION_CLAIM",
    "KIND_GEN",
    "KIND_JTI",
    "KIND_KEYS",
    "KIND_SID",
    "KIND_SUB",
    "RevocationEvent",
    "RevocationState",
]

KIND_JTI = "jti"
KIND_SID = "sid"
KIND_SUB = "sub"
KIND_GEN = "gen"
KIND_KEYS = "keys"
#: The access-token claim with the user's credential version at login.
GENERATION_CLAIM = "gen"


def cutoff_horizon(max_ttl: int) -> float:
    """How long a cut-off must be kept: past it, every earlier token has expired."""
    return max_ttl + MAX_LEEWAY + 1.0


class RevocationState:
    """Implements :class:`authgate.tokens.RevocationCheck`. One per process."""

    __slots__ = ("gen", "jti", "sid", "sub")

    def __init__(self) -> None:
        self.jti: dict[str, float] = {}
        self.sid: dict[str, float] = {}
        self.sub: dict[str, float] = {}
        #: user id → (first valid credential version, when the entry may go).
        self.gen: dict[str, tuple[int, float]] = {}

    def is_revoked(self, token: VerifiedToken) -> bool:
        if token.jti in self.jti:
            return True
        sid = token.sid
        if sid is not None and sid in self.sid:
            return True
        first_valid = self.gen.get(token.sub)
        if first_valid is not None:
            generation = token.claims.get(GENERATION_CLAIM)
            if type(generation) is int:
                return generation < first_valid[0]
        valid_after = self.sub.get(token.sub)
        if valid_after is None:
            return False
        cut = math.floor(valid_after) if sid is not None else math.ceil(valid_after)
        return token.iat < cut

    def apply(self, event: RevocationEvent) -> None:
        """Add one log row. Only ever grows (SECURITY.md A.7 #50): a smaller expiry
        never shortens a jti or sid entry, an earlier cut-off never replaces a later
        one, so no replay or out-of-order row can un-revoke (RFC 7009 §2.2)."""
        if event.kind == KIND_JTI:
            _grow(self.jti, event.key, event.expires_at)
        elif event.kind == KIND_SID:
            _grow(self.sid, event.key, event.expires_at)
        elif event.kind == KIND_SUB and event.value > self.sub.get(event.key, -math.inf):
            self.sub[event.key] = event.value
        elif event.kind == KIND_GEN:
            old = self.gen.get(event.key, (-1, -math.inf))
            self.gen[event.key] = (max(old[0], int(event.value)), max(old[1], event.expires_at))

    def purge(self, now: float, sub_horizon: float) -> int:
        """Drop entries that can no longer match an unexpired token. Returns the count."""
        dropped = 0
        for table in (self.jti, self.sid):
            gone = [k for k, until in table.items() if until <= now]
            for k in gone:
                del table[k]
            dropped += len(gone)
        gone = [k for k, va in self.sub.items() if va + sub_horizon <= now]
        for k in gone:
            del self.sub[k]
        dropped += len(gone)
        gone = [k for k, (_, until) in self.gen.items() if until <= now]
        for k in gone:
            del self.gen[k]
        return dropped + len(gone)

    def __len__(self) -> int:
        return len(self.jti) + len(self.sid) + len(self.sub) + len(self.gen)


def _grow(table: dict[str, float], key: str, until: float) -> None:
    """Keep the later of two expiries; a first entry is kept whatever its value
    (NaN included: an entry that never purges is safe, a dropped one is not)."""
    current = table.get(key)
    if current is None or until > current:
        table[key] = until
