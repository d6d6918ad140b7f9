"""``KeyRing.install`` and ``KeyRing.due_next`` (SECURITY.md A.7 #49), in memory."""

from __future__ import annotations

import secrets

import pytest

from authgate.errors import UnsafeKey
from authgate.tokens import KeyRing, KeyState, ManagedKey, generate_key, hmac_key


def test_install_drops_every_hmac_secret_that_is_not_configured() -> None:
    old, published = hmac_key(secrets.token_urlsafe(48), "HS256"), generate_key("HS256")
    ring = KeyRing.single(old)
    ring.publish_next(published, now=0.0)
    new = hmac_key(secrets.token_urlsafe(48), "HS256")
    assert sorted(ring.install(new, now=10.0, retire_after=60.0)) == sorted(
        [old.kid, published.kid]
    )
    assert [(m.key.kid, m.state) for m in ring.entries()] == [(new.kid, KeyState.ACTIVE)]
    assert ring.install(new, now=11.0, retire_after=60.0) == []  # already active


def test_install_keeps_a_replaced_asymmetric_key_verify_only() -> None:
    old, published, new = generate_key("ES256"), generate_key("ES256"), generate_key("ES256")
    ring = KeyRing.single(old)
    ring.publish_next(published, now=0.0)
    assert ring.install(new, now=10.0, retire_after=60.0) == [published.kid]  # never signed
    states = {m.key.kid: (m.state, m.retire_at) for m in ring.entries()}
    assert states == {old.kid: (KeyState.RETIRING, 70.0), new.kid: (KeyState.ACTIVE, None)}
    # Rolling back to the old key file makes it active again.
    assert ring.install(old, now=20.0, retire_after=60.0) == []
    assert ring.active.kid == old.kid
    assert ring.get(new.kid) is not None


def test_install_across_families_drops_the_other_family() -> None:
    ring = KeyRing.single(generate_key("EdDSA"))
    secret = hmac_key(secrets.token_urlsafe(48), "HS256")
    assert len(ring.install(secret, now=0.0, retire_after=60.0)) == 1
    assert ring.symmetric
    assert ring.jwks() == {"keys": []}
    key = generate_key("EdDSA")
    assert ring.install(key, now=1.0, retire_after=60.0) == [secret.kid]
    assert not ring.symmetric


def test_install_needs_a_private_key() -> None:
    ring = KeyRing.single(generate_key("EdDSA"))
    public = KeyRing.from_jwks(
        {"keys": [generate_key("EdDSA").public_jwk() | {"alg": "EdDSA"}]}
    ).entries()[0]
    with pytest.raises(UnsafeKey):
        ring.install(public.key, now=0.0, retire_after=60.0)


def test_due_next_waits_for_the_delay() -> None:
    ring = KeyRing.single(generate_key("EdDSA"))
    assert ring.due_next(now=1e9, delay=0.0) is None
    ring.publish_next(generate_key("EdDSA"), now=100.0)
    assert ring.due_next(now=159.9, delay=60.0) is None
    due = ring.due_next(now=160.0, delay=60.0)
    assert isinstance(due, ManagedKey)
    assert due.state is KeyState.NEXT
    unknown = KeyRing.single(generate_key("EdDSA"))
    unknown.publish_next(generate_key("EdDSA"))  # no publication time: never due
    assert unknown.due_next(now=1e12, delay=0.0) is None
