"""Issued tokens verify, with every algorithm, and carry the RFC 9068 claim set."""

from __future__ import annotations

import pytest

from authgate.clock import FrozenClock
from authgate.errors import Expired, Revoked, UnknownKey
from authgate.tokens import (
    SUPPORTED_ALGORITHMS,
    KeyRing,
    TokenCodec,
    VerifiedToken,
    VerifiedTokenCache,
    generate_key,
)


def make_codec(alg: str, clock: FrozenClock, **kw: object) -> TokenCodec:
    return TokenCodec(
        KeyRing.single(generate_key(alg)),
        issuer="https://auth.example.com",
        audience="api",
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_issued_token_verifies_with_rfc9068_claims(alg: str, clock: FrozenClock) -> None:
    codec = make_codec(alg, clock)
    token, claims = codec.issue(sub="u1", ttl=900, client_id="authgate", scope={"b", "a"}, sid="s")
    verified = codec.verify(token)
    assert {"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} <= claims.keys()
    assert verified.sub == "u1"
    assert verified.scope == frozenset({"a", "b"})
    assert verified.sid == "s"
    assert verified.exp - verified.iat == 900


def test_cached_token_still_expires_and_checks_revocation(clock: FrozenClock) -> None:
    revoked: set[str] = set()

    class Denylist:
        def is_revoked(self, token: VerifiedToken) -> bool:
            return token.jti in revoked

    codec = make_codec("HS256", clock, cache=VerifiedTokenCache(), revocation=Denylist())
    token, claims = codec.issue(sub="u1", ttl=60, client_id="c")
    codec.verify(token)
    revoked.add(claims["jti"])
    with pytest.raises(Revoked):
        codec.verify(token)
    revoked.clear()
    clock.advance(60 + 30)
    with pytest.raises(Expired):
        codec.verify(token)


def test_cached_token_fails_once_its_key_is_retired(clock: FrozenClock) -> None:
    codec = make_codec("EdDSA", clock, cache=VerifiedTokenCache())
    token, _ = codec.issue(sub="u1", ttl=900, client_id="c")
    codec.verify(token)
    codec.keys.publish_next(generate_key("EdDSA"))
    old = codec.keys.active.kid
    codec.keys.promote_next(now=clock.now(), retire_after=0)
    codec.verify(token)  # still verify-only until retired
    assert codec.keys.retire_expired(clock.now()) == [old]
    with pytest.raises(UnknownKey):
        codec.verify(token)
