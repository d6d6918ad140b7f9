"""Bounded caches of verification outcomes, keyed by the exact token string.

* Verified tokens: a hit skips signature and claim checks, never revocation (the
  codec asks its revocation hook on every hit). An entry never outlives its
  token's ``exp``.
* Rejected tokens: a token whose signature verified but which is expired or revoked
  stays so for good (the clock moves forward; revocation only grows, SECURITY.md
  A.7 #50), so the codec remembers the verdict and refuses the next request with
  the same string by a lookup instead of a signature check. Only the codec puts an
  entry here, and only after the signature verified: a forged or altered token is
  never remembered (an attacker varies those for free), and an exact-string key
  cannot make any other token fail. "Not yet valid" (``nbf``, ``iat``) is not final
  and is never remembered. Bounded by count and by total characters.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal, NamedTuple

from authgate.tokens.claims import VerifiedToken

__all__ = ["Rejection", "VerifiedTokenCache"]

#: Why a signed token is refused for good.
RejectionKind = Literal["expired", "revoked"]


class Rejection(NamedTuple):
    """A remembered refusal: ``until`` is ``exp + leeway`` (past it, a revoked token
    is refused as expired, the order the cold path checks in); ``typ`` is the token
    type the verdict was reached for."""

    kind: RejectionKind
    until: float
    typ: str


class VerifiedTokenCache:
    """LRU over token strings. Not thread-safe by design: one per event loop.

    Args:
        maxsize: verified-token entries.
        rejected_maxsize: remembered-rejection entries.
        rejected_max_chars: the rejected entries' token characters in total (a few MB
            at most, whatever the tokens' size).
    """

    __slots__ = (
        "_data",
        "_rejected",
        "_rejected_chars",
        "maxsize",
        "rejected_max_chars",
        "rejected_maxsize",
    )

    def __init__(
        self,
        maxsize: int = 10_000,
        *,
        rejected_maxsize: int = 4096,
        rejected_max_chars: int = 4 * 1024 * 1024,
    ) -> None:
        if maxsize < 1 or rejected_maxsize < 1 or rejected_max_chars < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.rejected_maxsize = rejected_maxsize
        self.rejected_max_chars = rejected_max_chars
        self._data: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._rejected: OrderedDict[str, Rejection] = OrderedDict()
        self._rejected_chars = 0

    def get(self, token: str) -> VerifiedToken | None:
        hit = self._data.get(token)
        if hit is not None:
            self._data.move_to_end(token)
        return hit

    def put(self, token: str, verified: VerifiedToken) -> None:
        data = self._data
        data[token] = verified
        data.move_to_end(token)
        if len(data) > self.maxsize:
            data.popitem(last=False)
        if self._rejected and token in self._rejected:
            self.forget_rejection(token)

    def discard(self, token: str) -> None:
        self._data.pop(token, None)

    def clear(self) -> None:
        self._data.clear()
        self._rejected.clear()
        self._rejected_chars = 0

    def __len__(self) -> int:
        return len(self._data)

    # -- remembered rejections ---------------------------------------------------

    def rejection(self, token: str) -> Rejection | None:
        """The remembered refusal of exactly ``token``, if any."""
        hit = self._rejected.get(token)
        if hit is not None:
            self._rejected.move_to_end(token)
        return hit

    def reject(self, token: str, kind: RejectionKind, until: float, typ: str) -> None:
        """Remember that ``token`` (whose signature verified) is ``kind`` for good."""
        self._data.pop(token, None)
        rejected = self._rejected
        if token in rejected:
            rejected[token] = Rejection(kind, until, typ)
            rejected.move_to_end(token)
            return
        size = len(token)
        if size > self.rejected_max_chars:
            return
        rejected[token] = Rejection(kind, until, typ)
        self._rejected_chars += size
        while len(rejected) > self.rejected_maxsize or (
            self._rejected_chars > self.rejected_max_chars
        ):
            old, _ = rejected.popitem(last=False)
            self._rejected_chars -= len(old)

    def forget_rejection(self, token: str) -> None:
        if self._rejected.pop(token, None) is not None:
            self._rejected_chars -= len(token)

    @property
    def rejected_count(self) -> int:
        return len(self._rejected)

    @property
    def rejected_chars(self) -> int:
        return self._rejected_chars
