"""The key ring: one active signing key, published next keys, verify-only old keys.

Rotation follows RFC 7517 practice and SECURITY.md A.6 #43:
publish the next key (it appears in the JWKS before it signs anything), promote
it (it signs; the old active key becomes verify-only), and retire the old key
once the longest token lifetime plus leeway has passed.
SECURITY.md A.7 #49 (RFC 8725 §3.5, NIST SP 800-57 Pt 1 §5.3): a *configured* key is
the source of truth; :meth:`KeyRing.install` makes it active, drops every HMAC secret
that is no longer configured at once (compromised), and keeps a replaced asymmetric
key verify-only until its tokens expire. :meth:`KeyRing.due_next` says when a
published next key has been in the JWK Set for long enough to sign.
RFC 8725 §3.1: HMAC and asymmetric keys never share one ring, so no verifier can
be confused into treating a public key as an HMAC secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from authgate.errors import UnsafeKey
from authgate.tokens._jwkset import load_jwk_set
from authgate.tokens.keys import Key

__all__ = ["KeyRing", "KeyState", "ManagedKey"]


class KeyState(StrEnum):
    NEXT = "next"  # published, not signing yet
    ACTIVE = "active"  # signs new tokens
    RETIRING = "retiring"  # verify-only until ``retire_at``


@dataclass(slots=True)
class ManagedKey:
    key: Key
    state: KeyState
    retire_at: float | None = None
    #: When the key entered the JWK Set (None: unknown, e.g. a verifier's ring).
    published_at: float | None = None


class KeyRing:
    """The keys a codec signs and verifies with. ``kid`` lookups are exact dict hits."""

    def __init__(self, keys: Iterable[ManagedKey] = ()) -> None:
        self._keys: dict[str, ManagedKey] = {}
        self._symmetric: bool | None = None
        for managed in keys:
            self._add(managed)
        if self._keys and self._active() is None:
            raise UnsafeKey("a key ring needs exactly one active key")

    @classmethod
    def single(cls, key: Key) -> KeyRing:
        """A ring with one active key (and nothing else)."""
        return cls([ManagedKey(key, KeyState.ACTIVE)])

    @classmethod
    def verify_only(cls, keys: Iterable[Key]) -> KeyRing:
        """A ring for verifiers: every key verify-only, none signs."""
        ring = cls()
        for key in keys:
            ring._add(ManagedKey(key, KeyState.RETIRING))
        return ring

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, public_only: bool = False) -> KeyRing:
        """A verify-only ring from a JWK Set (RFC 7517 §5). Keys authgate does not
        understand are ignored, under the rules the verifier reads a fetched set by
        (:mod:`authgate.tokens._jwkset`).

        Args:
            jwks: the parsed JWK Set.
            public_only: True for a set someone else publishes (a client's keys):
                private and symmetric keys refuse it, since a published secret
                lets anyone sign. False for a local key file of the owner's.

        Raises:
            UnsafeKey: not a JWK Set, no usable key, a duplicate ``kid``, secrets
                in a public set, or HMAC and asymmetric keys mixed in one set.
        """
        return cls.verify_only(load_jwk_set(jwks, public_only=public_only))

    def _add(self, managed: ManagedKey) -> None:
        key = managed.key
        if self._symmetric is not None and self._symmetric != key.symmetric:
            raise UnsafeKey("HMAC and asymmetric keys cannot share a key ring (RFC 8725 §3.1)")
        if key.kid in self._keys:
            raise UnsafeKey(f"duplicate kid {key.kid!r}")
        if managed.state is KeyState.ACTIVE:
            if self._active() is not None:
                raise UnsafeKey("a key ring has exactly one active key")
            if not key.has_private:
                raise UnsafeKey("the active key must have its private part")
        self._symmetric = key.symmetric
        self._keys[key.kid] = managed

    def _active(self) -> ManagedKey | None:
        for managed in self._keys.values():
            if managed.state is KeyState.ACTIVE:
                return managed
        return None

    @property
    def symmetric(self) -> bool:
        return bool(self._symmetric)

    @property
    def active(self) -> Key:
        managed = self._active()
        if managed is None:
            raise UnsafeKey("no active signing key")
        return managed.key

    def get(self, kid: str) -> Key | None:
        managed = self._keys.get(kid)
        return managed.key if managed is not None else None

    def __len__(self) -> int:
        return len(self._keys)

    def entries(self) -> list[ManagedKey]:
        return list(self._keys.values())

    @property
    def next(self) -> ManagedKey | None:
        """The published next key, if any."""
        return next((m for m in self._keys.values() if m.state is KeyState.NEXT), None)

    def publish_next(self, key: Key, *, now: float | None = None) -> None:
        """Publish ``key`` so verifiers learn it before it signs anything."""
        if self.next is not None:
            raise UnsafeKey("a next key is already published")
        self._add(ManagedKey(key, KeyState.NEXT, published_at=now))

    def due_next(self, *, now: float, delay: float) -> ManagedKey | None:
        """The next key if it has been published for at least ``delay`` seconds.

        ``delay`` is the JWK Set ``max-age`` (plus propagation): a verifier holding
        a cached JWK Set then already knows the key when it starts signing
        (RFC 7517 key rollover; SECURITY.md A.7 #49).
        """
        nxt = self.next
        if nxt is None or nxt.published_at is None or nxt.published_at + delay > now:
            return None
        return nxt

    def promote_next(self, *, now: float, retire_after: float) -> Key:
        """The next key becomes active; the old active key verifies until ``now + retire_after``.

        ``retire_after`` should be the longest token lifetime plus the leeway.
        """
        nxt = self.next
        if nxt is None:
            raise UnsafeKey("no next key to promote; publish one first")
        if not nxt.key.has_private:
            raise UnsafeKey("the next key has no private part")
        self._retire_active(now + retire_after)
        nxt.state = KeyState.ACTIVE
        return nxt.key

    def install(self, key: Key, *, now: float, retire_after: float) -> list[str]:
        """Make the configured ``key`` the active key. Returns the kids dropped at once.

        SECURITY.md A.7 #49: the configured key is the source of truth (RFC 8725 §3.5).

        - An HMAC secret that is no longer configured is treated as compromised and
          dropped at once: its tokens, and any token forged with it, fail.
        - A replaced asymmetric key stays verify-only until ``now + retire_after``
          (its tokens' lifetime plus leeway).
        - A published next key is withdrawn: it never signed, and it must not be
          promoted over the configured key later.
        - Keys of the other family (HMAC vs asymmetric) cannot share the ring
          (RFC 8725 §3.1) and are dropped.

        Raises:
            UnsafeKey: ``key`` has no private part.
        """
        if not key.has_private:
            raise UnsafeKey("the active key must have its private part")
        current = self._keys.get(key.kid)
        if current is not None and current.state is KeyState.ACTIVE:
            return []
        dropped = [
            kid
            for kid, m in self._keys.items()
            if kid != key.kid and (m.key.symmetric or key.symmetric or m.state is KeyState.NEXT)
        ]
        for kid in dropped:
            del self._keys[kid]
        self._retire_active(now + retire_after)
        if not self._keys:
            self._symmetric = None
        if current is None:
            self._add(ManagedKey(key, KeyState.ACTIVE, published_at=now))
        else:
            current.state, current.retire_at = KeyState.ACTIVE, None
        return dropped

    def _retire_active(self, retire_at: float) -> None:
        old = self._active()
        if old is not None:
            old.state = KeyState.RETIRING
            old.retire_at = retire_at

    def retire_expired(self, now: float) -> list[str]:
        """Drop verify-only keys whose retirement time has passed. Returns their kids."""
        gone = [
            kid
            for kid, m in self._keys.items()
            if m.state is KeyState.RETIRING and m.retire_at is not None and m.retire_at <= now
        ]
        for kid in gone:
            del self._keys[kid]
        return gone

    def remove(self, kid: str) -> None:
        managed = self._keys.get(kid)
        if managed is None:
            raise UnsafeKey(f"no key {kid!r}")
        if managed.state is KeyState.ACTIVE:
            raise UnsafeKey("the active key cannot be removed; rotate first")
        del self._keys[kid]

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set (RFC 7517 §5): no private member, ever. Empty for HMAC rings."""
        if self.symmetric:
            return {"keys": []}
        order = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.RETIRING: 2}
        ms = sorted(self._keys.values(), key=lambda m: order[m.state])
        return {"keys": [m.key.public_jwk() for m in ms]}
