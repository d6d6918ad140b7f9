"""The verified-token cache: bounded LRU keyed by the exact token string, an entry
never outlives its token, and revocation is asked on every hit."""

from __future__ import annotations

import pytest
from _forge import NOW, claims, codec_for, header_for, sign_raw

from authgate.clock import FrozenClock
from authgate.errors import BadSignature, Expired, MalformedToken, Revoked, UnknownKey
from authgate.tokens import VerifiedToken, VerifiedTokenCache, generate_key


class Denylist:
    def __init__(self) -> None:
        self.jtis: set[str] = set()
        self.cutoff: dict[str, float] = {}
        self.calls = 0

    def is_revoked(self, token: VerifiedToken) -> bool:
        self.calls += 1
        return token.jti in self.jtis or token.iat < self.cutoff.get(token.sub, 0)


def test_cache_is_a_bounded_lru() -> None:
    key = generate_key("HS256")
    cache = VerifiedTokenCache(maxsize=2)
    codec = codec_for(key, cache=cache)
    a, b, c = (sign_raw(key, header_for(key), claims(jti=j)) for j in "abc")
    codec.verify(a)
    codec.verify(b)
    assert cache.get(a) is not None  # a is now the most recently used
    codec.verify(c)
    assert len(cache) == 2
    assert cache.get(b) is None
    assert cache.get(a) is not None
    assert cache.get(c) is not None
    with pytest.raises(ValueError, match="maxsize"):
        VerifiedTokenCache(maxsize=0)


def test_cache_hit_returns_the_same_verified_token() -> None:
    key = generate_key("EdDSA")
    codec = codec_for(key, cache=VerifiedTokenCache())
    token = sign_raw(key, header_for(key), claims())
    first = codec.verify(token)
    assert codec.verify(token) is first


def test_cache_is_keyed_by_the_exact_token_string() -> None:
    """A respelled token is a miss and goes through the strict cold path."""
    key = generate_key("HS256")
    cache = VerifiedTokenCache()
    codec = codec_for(key, cache=cache)
    token = sign_raw(key, header_for(key), claims())
    codec.verify(token)
    h, p, s = token.split(".")
    for variant in (token + "=", f"{h}.{p}.{s[:-1]}", token.upper()):
        with pytest.raises((MalformedToken, BadSignature, UnknownKey)):
            codec.verify(variant)
    assert len(cache) == 1


def test_cached_entry_never_outlives_exp() -> None:
    key = generate_key("HS256")
    clock = FrozenClock(NOW)
    cache = VerifiedTokenCache()
    codec = codec_for(key, clock, cache=cache, leeway=0)
    token = sign_raw(key, header_for(key), claims(exp=NOW + 60))
    codec.verify(token)
    clock.advance(59)
    assert codec.verify(token).exp == NOW + 60
    clock.advance(1)
    with pytest.raises(Expired):
        codec.verify(token)
    assert len(cache) == 0  # dropped, not merely refused


def test_revocation_is_consulted_on_every_hit() -> None:
    key = generate_key("ES256")
    denylist = Denylist()
    codec = codec_for(key, cache=VerifiedTokenCache(), revocation=denylist)
    token = sign_raw(key, header_for(key), claims(jti="j1", sub="u1"))
    other = sign_raw(key, header_for(key), claims(jti="j2", sub="u1"))
    for _ in range(5):
        codec.verify(token)
    assert denylist.calls == 5
    denylist.jtis.add("j1")
    with pytest.raises(Revoked):
        codec.verify(token)
    assert codec.verify(other).jti == "j2"
    denylist.cutoff["u1"] = NOW + 1  # "sign out everywhere" after the token was issued
    with pytest.raises(Revoked):
        codec.verify(other)
    assert denylist.calls == 8


def test_revoked_token_is_not_cached_by_a_failed_cold_verify() -> None:
    key = generate_key("HS256")
    denylist = Denylist()
    denylist.jtis.add("j1")
    cache = VerifiedTokenCache()
    codec = codec_for(key, cache=cache, revocation=denylist)
    with pytest.raises(Revoked):
        codec.verify(sign_raw(key, header_for(key), claims(jti="j1")))
    assert len(cache) == 0


def test_cached_entry_fails_once_its_key_leaves_the_ring() -> None:
    key = generate_key("EdDSA")
    cache = VerifiedTokenCache()
    codec = codec_for(key, cache=cache)
    token = sign_raw(key, header_for(key), claims())
    codec.verify(token)
    codec.keys.publish_next(generate_key("EdDSA"))
    codec.keys.promote_next(now=NOW, retire_after=0)
    codec.keys.retire_expired(NOW)
    with pytest.raises(UnknownKey):
        codec.verify(token)
    assert len(cache) == 0
