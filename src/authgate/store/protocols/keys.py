"""The signing keys behind a Protocol (:class:`KeyRepository`,
:mod:`authgate.store.keys`): the stored key ring, each key's state, and the kids of
retired keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from authgate.tokens import KeyRing, KeyState
    from authgate.tokens.keys import Key

__all__ = ["KeyRepository"]


class KeyRepository(Protocol):
    async def lock(self) -> None: ...

    async def load_ring(self) -> KeyRing | None: ...

    async def retired_kids(self) -> set[str]: ...

    async def insert(self, key: Key, state: KeyState, *, now: float) -> None: ...

    async def save_ring(self, ring: KeyRing, *, now: float) -> None: ...

    async def tombstone(self, kids: list[str], *, now: float) -> None: ...

    async def set_state(self, kid: str, state: KeyState, retire_at: float | None) -> None: ...

    async def delete(self, kids: list[str]) -> None: ...
