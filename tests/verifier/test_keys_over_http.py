"""The verifier against a real issuer on loopback: discovery, rotation, rate
limits, single-flight, offline operation and Cache-Control."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping

import orjson
import pytest

from authgate.clock import FrozenClock
from authgate.errors import InvalidClaim, JWKSError, UnknownKey, UnsupportedToken
from authgate.verifier import JWKSVerifier, KeyRefreshPolicy

from ._issuer import AUDIENCE, Canned, Issuer, random_kid_token
from .conftest import FAST_LIMITS, MakeVerifier

pytestmark = pytest.mark.anyio

JWKS = "/jwks"
METADATA = "/.well-known/oauth-authorization-server"


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "PS256"])
async def test_token_from_issuer_codec_verifies_after_discovery(
    alg: str, clock: FrozenClock
) -> None:
    issuer = Issuer(clock, alg)
    try:
        async with JWKSVerifier.from_issuer(
            issuer.url, audience=AUDIENCE, clock=clock, limits=FAST_LIMITS
        ) as verifier:
            verified = await verifier.verify_access_token(issuer.issue(scope={"orders:read"}))
        assert verified.sub == "user-1"
        assert verified.scope == frozenset({"orders:read"})
        assert verified.kid == issuer.ring.active.kid
        assert issuer.count(METADATA) == 1
        assert issuer.count(JWKS) == 1
    finally:
        issuer.close()


async def test_from_jwks_url_skips_discovery(issuer: Issuer, clock: FrozenClock) -> None:
    async with JWKSVerifier.from_jwks_url(
        issuer.url + JWKS, issuer=issuer.url, audience=AUDIENCE, clock=clock
    ) as verifier:
        await verifier.verify_access_token(issuer.issue())
    assert issuer.count(METADATA) == 0
    assert issuer.count(JWKS) == 1


async def test_same_strict_rules_as_the_server(issuer: Issuer, make_verifier: MakeVerifier) -> None:
    verifier = make_verifier()
    await verifier.start()
    other_audience, _ = issuer.codec(audience="billing").issue(sub="u", ttl=60, client_id="c")
    with pytest.raises(InvalidClaim):
        await verifier.verify_access_token(other_audience)
    stranger = JWKSVerifier.from_issuer(issuer.url + "/", audience=AUDIENCE)
    with pytest.raises(JWKSError, match="RFC 8414"):
        await stranger.start()
    await stranger.aclose()


async def test_metadata_issuer_must_equal_configured_issuer_exactly(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    issuer.metadata_issuer = issuer.url.replace("127.0.0.1", "localhost")
    with pytest.raises(JWKSError, match=r"RFC 8414 §3\.3"):
        await make_verifier().start()
    assert issuer.count(JWKS) == 0


@pytest.mark.parametrize(
    "jwks_uri", ["file:///etc/passwd", "http://auth.example.com/jwks", "ftp://127.0.0.1/jwks"]
)
async def test_discovered_jwks_uri_must_pass_the_url_policy(
    jwks_uri: str, issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    issuer.jwks_uri = jwks_uri
    with pytest.raises(JWKSError, match="jwks_uri"):
        await make_verifier().start()


async def test_rotated_key_is_picked_up_through_its_new_kid(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    await verifier.start()
    old_token = issuer.issue()
    await verifier.verify_access_token(old_token)
    new_key = issuer.rotate()
    new_token = issuer.issue()
    verified = await verifier.verify_access_token(new_token)
    assert verified.kid == new_key.kid
    assert issuer.count(JWKS) == 2
    await verifier.verify_access_token(old_token)  # the retiring key is still published
    assert new_key.kid in verifier.status().kids


async def test_unknown_kid_flood_fetches_at_most_once_per_interval(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier(policy=KeyRefreshPolicy(refetch_interval=30))
    await verifier.start()
    assert issuer.count(JWKS) == 1

    async def flood() -> None:
        tokens = [random_kid_token(clock, issuer.url) for _ in range(200)]
        results = await asyncio.gather(
            *(verifier.verify_access_token(t) for t in tokens), return_exceptions=True
        )
        assert all(isinstance(r, UnknownKey) for r in results)

    await flood()
    assert issuer.count(JWKS) == 2
    await flood()
    clock.advance(29)
    await flood()
    assert issuer.count(JWKS) == 2
    clock.advance(2)
    await flood()
    assert issuer.count(JWKS) == 3
    await verifier.verify_access_token(issuer.issue())  # good tokens are unaffected


async def test_concurrent_fetches_share_one_request(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    await verifier.start()
    # A slow answer keeps the fetch in flight while everyone piles on.
    body = issuer.answer(JWKS, {}, None).body
    issuer.overrides[JWKS] = Canned(body=body, chunks=2, pause=0.1)
    await asyncio.gather(*(verifier.refresh(force=True) for _ in range(50)))
    assert issuer.count(JWKS) == 2


async def test_token_without_kid_never_triggers_a_fetch(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    issuer.rotate()  # two published keys: a kid-less token matches none
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue()
    header = '{"alg":"EdDSA","typ":"at+jwt"}'
    h = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    with pytest.raises(UnknownKey):
        await verifier.verify_access_token(h + token[token.index(".") :])
    assert issuer.count(JWKS) == 1


async def test_issuer_down_after_first_fetch_still_verifies(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue(ttl=3600)
    issuer.down()
    clock.advance(1000)  # past max-age: a refresh is due and fails
    with pytest.raises(JWKSError):
        await verifier.refresh()
    assert (await verifier.verify_access_token(token)).sub == "user-1"
    fresh, _ = issuer.codec().issue(sub="user-2", ttl=600, client_id="web")
    assert (await verifier.verify_access_token(fresh)).sub == "user-2"
    status = verifier.status()
    assert status.ready
    assert not status.healthy
    assert status.last_error is not None
    assert status.last_success is not None
    assert status.last_success < status.last_attempt  # type: ignore[operator]


async def test_cache_control_max_age_is_honoured(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    issuer.cache_control = "public, max-age=600"
    verifier = make_verifier()
    await verifier.start()
    assert verifier.status().expires_at == clock.now() + 600
    clock.advance(400)  # before 3/4 of the lifetime: nothing to do
    await verifier.refresh()
    assert issuer.count(JWKS) == 1
    clock.advance(60)  # past 450 s: due
    await verifier.refresh()
    assert issuer.count(JWKS) == 2


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [("max-age=1", 60), ("max-age=999999999", 3600), ("no-store", 60), (None, 300)],
)
async def test_max_age_is_clamped_to_sane_bounds(
    cache_control: str | None,
    ttl: int,
    issuer: Issuer,
    make_verifier: MakeVerifier,
    clock: FrozenClock,
) -> None:
    issuer.cache_control = cache_control
    verifier = make_verifier()
    await verifier.start()
    assert verifier.status().expires_at == clock.now() + ttl


async def test_background_task_refreshes_when_due(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier(policy=KeyRefreshPolicy(check_every=0.01))
    await verifier.start()
    clock.advance(230)  # past 3/4 of max-age=300
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while verifier.status().last_success != clock.now():
        assert loop.time() < deadline, "the background task never refreshed"
        await asyncio.sleep(0.01)
    assert issuer.count(JWKS) == 2


async def test_verification_itself_never_fetches_when_keys_are_due(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue(ttl=3600)
    clock.advance(1000)  # long past max-age: the hot path still does no I/O
    for _ in range(100):
        await verifier.verify_access_token(token)
    assert issuer.count(JWKS) == 1


async def test_key_removed_from_jwks_stops_verifying_even_cached_tokens(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue()
    old_kid = issuer.ring.active.kid
    await verifier.verify_access_token(token)  # now cached
    issuer.rotate()
    issuer.ring.remove(old_kid)
    await verifier.refresh(force=True)
    with pytest.raises(UnknownKey):
        await verifier.verify_access_token(token)


async def test_start_without_required_keys_recovers_when_the_issuer_answers(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    issuer.overrides[JWKS] = Canned(status=503, body=b"{}")
    verifier = make_verifier()
    await verifier.start(require_keys=False)
    assert not verifier.status().ready
    assert "503" in (verifier.status().last_error or "")
    token = issuer.issue()
    with pytest.raises(UnknownKey):  # retry allowed only after the interval
        await verifier.verify_access_token(token)
    del issuer.overrides[JWKS]
    clock.advance(31)
    assert (await verifier.verify_access_token(token)).sub == "user-1"
    assert verifier.status().ready
    assert verifier.status().healthy


async def test_a_clock_stepped_back_does_not_postpone_refreshes(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier()
    await verifier.start()
    with pytest.raises(UnknownKey):  # spends the on-demand refetch at t0
        await verifier.verify_access_token(random_kid_token(clock, issuer.url))
    assert issuer.count(JWKS) == 2
    clock.advance(-86_400)  # e.g. an NTP step or a restored VM snapshot
    await verifier.refresh()
    assert issuer.count(JWKS) == 3
    # The on-demand stamp (t0) now lies in the future: it must not block a refetch.
    new_key = issuer.rotate()
    assert (await verifier.verify_access_token(issuer.issue())).kid == new_key.kid
    assert issuer.count(JWKS) == 4


def _with_header(token: str, header: Mapping[str, object]) -> str:
    h = base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=").decode()
    return h + token[token.index(".") :]


@pytest.mark.parametrize("member", ["jku", "x5u"])
async def test_key_urls_in_a_token_are_never_fetched(
    member: str, issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue()
    header = {"alg": "EdDSA", "kid": "attacker", "typ": "at+jwt", member: issuer.url + "/evil"}
    with pytest.raises(UnsupportedToken):
        await verifier.verify_access_token(_with_header(token, header))
    assert issuer.count("/evil") == 0
    assert issuer.count(JWKS) == 1


async def test_a_url_as_kid_is_only_looked_up_never_fetched(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue()
    for kid in (issuer.url + "/evil", "../../../../dev/null", "file:///etc/passwd"):
        with pytest.raises(UnknownKey):
            await verifier.verify_access_token(
                _with_header(token, {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"})
            )
    assert issuer.count("/evil") == 0
    assert issuer.count(JWKS) == 2  # the configured URL, once (rate limit)


async def test_an_unexpected_fetch_failure_is_recorded_not_raised(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier()
    await verifier.start()
    token = issuer.issue()
    await verifier.aclose()  # the HTTP client is closed: sending now raises RuntimeError
    assert (await verifier.verify_access_token(token)).sub == "user-1"  # offline
    with pytest.raises(UnknownKey):
        await verifier.verify_access_token(random_kid_token(clock, issuer.url))
    assert "RuntimeError" in (verifier.status().last_error or "")
