"""Remembered rejections (tokens/cache.py): once a token's signature verified,
"expired" and "revoked" are final for that exact string and the next verification
is a lookup; nothing else is remembered, and no entry makes another token fail."""

from __future__ import annotations

import pytest
from _forge import NOW, claims, codec_for, header_for, sign_raw

from _spies import CountingKey
from authgate.clock import FrozenClock
from authgate.errors import BadSignature, Expired, NotYetValid, Revoked, WrongTokenType
from authgate.tokens import VerifiedToken, VerifiedTokenCache


class Denylist:
    def __init__(self, *jtis: str) -> None:
        self.jtis = set(jtis)
        self.calls = 0

    def is_revoked(self, token: VerifiedToken) -> bool:
        self.calls += 1
        return token.jti in self.jtis


def test_expired_token_is_refused_by_lookup_after_its_first_check() -> None:
    key = CountingKey()
    cache = VerifiedTokenCache()
    codec = codec_for(key, cache=cache, leeway=0)
    token = sign_raw(key, header_for(key), claims(exp=NOW - 1, iat=NOW - 60))
    for _ in range(20):
        with pytest.raises(Expired):
            codec.verify(token)
    assert key.verifies == 1
    assert cache.rejected_count == 1
    assert len(cache) == 0


def test_token_expiring_while_cached_is_remembered_as_expired() -> None:
    key = CountingKey()
    clock = FrozenClock(NOW)
    cache = VerifiedTokenCache()
    codec = codec_for(key, clock, cache=cache, leeway=0)
    token = sign_raw(key, header_for(key), claims(exp=NOW + 60))
    codec.verify(token)
    clock.advance(60)
    for _ in range(5):
        with pytest.raises(Expired):
            codec.verify(token)
    assert key.verifies == 1
    assert (len(cache), cache.rejected_count) == (0, 1)


def test_revoked_token_is_refused_by_lookup_without_asking_again() -> None:
    key = CountingKey()
    denylist = Denylist("gone")
    codec = codec_for(key, cache=VerifiedTokenCache(), revocation=denylist)
    token = sign_raw(key, header_for(key), claims(jti="gone"))
    for _ in range(10):
        with pytest.raises(Revoked):
            codec.verify(token)
    assert (key.verifies, denylist.calls) == (1, 1)


def test_token_revoked_after_being_remembered_valid_is_refused_at_once() -> None:
    key = CountingKey()
    denylist = Denylist()
    codec = codec_for(key, cache=VerifiedTokenCache(), revocation=denylist)
    token = sign_raw(key, header_for(key), claims(jti="j1"))
    assert codec.verify(token).jti == "j1"
    assert codec.verify(token).jti == "j1"  # a cache hit
    denylist.jtis.add("j1")
    with pytest.raises(Revoked):
        codec.verify(token)
    with pytest.raises(Revoked):
        codec.verify(token)
    assert key.verifies == 1


def test_revoked_entry_reads_as_expired_once_the_token_would_have_expired() -> None:
    """The cold path checks exp before revocation; the remembered verdict agrees."""
    key = CountingKey()
    clock = FrozenClock(NOW)
    codec = codec_for(key, clock, cache=VerifiedTokenCache(), leeway=5, revocation=Denylist("r"))
    token = sign_raw(key, header_for(key), claims(jti="r", exp=NOW + 60))
    with pytest.raises(Revoked):
        codec.verify(token)
    clock.advance(64)
    with pytest.raises(Revoked):
        codec.verify(token)
    clock.advance(1)
    with pytest.raises(Expired):
        codec.verify(token)
    assert key.verifies == 1


def test_bad_signature_is_never_remembered() -> None:
    key = CountingKey()
    cache = VerifiedTokenCache()
    codec = codec_for(key, cache=cache)
    h, p, s = sign_raw(key, header_for(key), claims(exp=NOW - 3600, iat=NOW - 4000)).split(".")
    forged = f"{h}.{p}.{'A' * len(s)}"
    for _ in range(5):
        with pytest.raises(BadSignature):
            codec.verify(forged)
    assert key.verifies == 5
    assert cache.rejected_count == 0


def test_not_yet_valid_is_not_final() -> None:
    key = CountingKey()
    clock = FrozenClock(NOW)
    cache = VerifiedTokenCache()
    codec = codec_for(key, clock, cache=cache, leeway=0)
    token = sign_raw(key, header_for(key), claims(nbf=NOW + 30))
    with pytest.raises(NotYetValid):
        codec.verify(token)
    assert cache.rejected_count == 0
    clock.advance(30)
    assert codec.verify(token).sub


def test_remembered_rejection_never_makes_another_token_fail() -> None:
    """Exact-string keys: the same claims re-signed, or the next token of the same
    user, verify normally beside a remembered expired token."""
    key = CountingKey()
    clock = FrozenClock(NOW)
    codec = codec_for(key, clock, cache=VerifiedTokenCache(), leeway=0)
    old = sign_raw(key, header_for(key), claims(jti="a", exp=NOW + 10))
    codec.verify(old)
    clock.advance(10)
    with pytest.raises(Expired):
        codec.verify(old)
    fresh = sign_raw(key, header_for(key), claims(jti="a", exp=NOW + 600, iat=NOW + 10))
    assert fresh != old
    assert codec.verify(fresh).jti == "a"
    assert codec.verify(fresh).exp == NOW + 600


def test_expired_entry_is_rechecked_when_the_clock_went_back() -> None:
    key = CountingKey()
    clock = FrozenClock(NOW)
    codec = codec_for(key, clock, cache=VerifiedTokenCache(), leeway=0)
    token = sign_raw(key, header_for(key), claims(exp=NOW + 10))
    clock.advance(10)
    with pytest.raises(Expired):
        codec.verify(token)
    clock.set(NOW)
    assert codec.verify(token).exp == NOW + 10


def test_remembered_verdict_applies_to_its_token_type_only() -> None:
    key = CountingKey()
    codec = codec_for(key, cache=VerifiedTokenCache(), leeway=0)
    token = sign_raw(key, header_for(key), claims(exp=NOW - 1, iat=NOW - 60))
    with pytest.raises(Expired):
        codec.verify(token)
    with pytest.raises(WrongTokenType):
        codec.verify(token, typ="refresh+jwt")


def test_rejections_are_bounded_by_count_and_by_characters() -> None:
    key = CountingKey()
    cache = VerifiedTokenCache(rejected_maxsize=3)
    codec = codec_for(key, cache=cache, leeway=0)
    tokens = [
        sign_raw(key, header_for(key), claims(jti=f"j{i}", exp=NOW - 1, iat=NOW - 60))
        for i in range(5)
    ]
    for token in tokens:
        with pytest.raises(Expired):
            codec.verify(token)
    assert cache.rejected_count == 3
    assert cache.rejection(tokens[0]) is None
    assert cache.rejection(tokens[4]) is not None
    small = VerifiedTokenCache(rejected_max_chars=2 * len(tokens[0]))
    codec = codec_for(key, cache=small, leeway=0)
    for token in tokens:
        with pytest.raises(Expired):
            codec.verify(token)
    assert small.rejected_count == 2
    assert small.rejected_chars <= 2 * len(tokens[0])
