"""A bounded cache of verified tokens, keyed by the exact token string.

A hit skips signature and claim checks, never revocation: the codec asks its
revocation hook on every hit. An entry never outlives its token's ``exp``.
"""

from __future__ import annotations

from collections import OrderedDict

from authgate.tokens.claims import VerifiedToken

__all__ = ["VerifiedTokenCache"]


class VerifiedTokenCache:
    """LRU over token strings. Not thread-safe by design: one per event loop."""

    __slots__ = ("_data", "maxsize")

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[str, VerifiedToken] = OrderedDict()

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

    def discard(self, token: str) -> None:
        self._data.pop(token, None)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
