"""Optional RFC 7662 introspection: revocation seen within the cache TTL, the
endpoint asked only about locally valid tokens, and failures fail closed."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from authgate.clock import FrozenClock
from authgate.errors import BadSignature, ConfigError, Revoked, StoreUnavailable
from authgate.verifier import BearerCredentials, ClientCredentials, JWKSVerifier

from ._issuer import AUDIENCE, CLIENT_ID, CLIENT_SECRET, Canned, Issuer
from .conftest import MakeVerifier

pytestmark = pytest.mark.anyio

INTROSPECT = "/introspect"
CREDENTIALS = ClientCredentials(CLIENT_ID, CLIENT_SECRET)


async def test_revoked_token_is_rejected_when_introspection_is_on(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier(introspection=CREDENTIALS)
    await verifier.start()
    token = issuer.issue()
    assert (await verifier.verify_access_token(token)).sub == "user-1"
    other = issuer.issue(sub="user-2")
    issuer.revoked.add(other)
    with pytest.raises(Revoked):
        await verifier.verify_access_token(other)


async def test_answers_are_cached_for_the_ttl_then_asked_again(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    verifier = make_verifier(introspection=CREDENTIALS, introspection_ttl=5)
    await verifier.start()
    token = issuer.issue()
    for _ in range(10):
        await verifier.verify_access_token(token)
    assert issuer.count(INTROSPECT) == 1
    issuer.revoked.add(token)
    clock.advance(4)
    await verifier.verify_access_token(token)  # still the cached answer
    clock.advance(2)
    with pytest.raises(Revoked):
        await verifier.verify_access_token(token)
    assert issuer.count(INTROSPECT) == 2


async def test_a_token_failing_locally_never_reaches_the_endpoint(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier(introspection=CREDENTIALS)
    await verifier.start()
    token = issuer.issue()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(BadSignature):
        await verifier.verify_access_token(forged)
    assert issuer.count(INTROSPECT) == 0


@pytest.mark.parametrize(
    "answer",
    [
        Canned(status=503, body=b"{}"),
        Canned(body=b'{"active": "yes"}'),
        Canned(body=b"{}"),
        Canned(body=b"not json", content_type="text/plain"),
    ],
)
async def test_introspection_failure_fails_closed(
    answer: Canned, issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier(introspection=CREDENTIALS)
    await verifier.start()
    issuer.overrides[INTROSPECT] = answer
    with pytest.raises(StoreUnavailable):
        await verifier.verify_access_token(issuer.issue())


async def test_wrong_introspection_credentials_fail_closed(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier(introspection=BearerCredentials("not-a-valid-token"))
    await verifier.start()
    with pytest.raises(StoreUnavailable, match="HTTP 401"):
        await verifier.verify_access_token(issuer.issue())


def test_introspection_config_is_checked_at_construction(issuer: Issuer) -> None:
    with pytest.raises(ConfigError):
        JWKSVerifier.from_jwks_url(
            issuer.url + "/jwks", issuer=issuer.url, audience=AUDIENCE, introspection=CREDENTIALS
        )
    with pytest.raises(ConfigError):
        JWKSVerifier.from_issuer(
            issuer.url, audience=AUDIENCE, introspection_url=issuer.url + INTROSPECT
        )
    with pytest.raises(ConfigError):
        JWKSVerifier.from_issuer(
            issuer.url,
            audience=AUDIENCE,
            introspection=CREDENTIALS,
            introspection_url="http://auth.example.com/introspect",
        )


def test_credentials_never_show_in_repr() -> None:
    assert CLIENT_SECRET not in repr(CREDENTIALS)
    assert "tok" not in repr(BearerCredentials("tok"))


async def test_metadata_without_introspection_endpoint_fails_at_start(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    issuer.overrides["/.well-known/oauth-authorization-server"] = Canned(
        body=orjson.dumps({"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"})
    )
    verifier = make_verifier(introspection=CREDENTIALS)
    with pytest.raises(ConfigError, match="introspection_endpoint"):
        await verifier.start()


async def test_introspection_starts_once_a_late_discovery_succeeds(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    metadata = "/.well-known/oauth-authorization-server"
    issuer.overrides[metadata] = Canned(status=503, body=b"{}")
    verifier = make_verifier(introspection=CREDENTIALS)
    await verifier.start(require_keys=False)
    del issuer.overrides[metadata]
    clock.advance(31)
    token = issuer.issue()
    assert (await verifier.verify_access_token(token)).sub == "user-1"
    assert issuer.count(INTROSPECT) == 1


async def test_concurrent_checks_of_one_token_share_one_request(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier(introspection=CREDENTIALS)
    await verifier.start()
    token = issuer.issue()
    issuer.overrides[INTROSPECT] = Canned(body=b'{"active": true}', chunks=2, pause=0.1)
    results = await asyncio.gather(*(verifier.verify_access_token(token) for _ in range(30)))
    assert {r.sub for r in results} == {"user-1"}
    assert issuer.count(INTROSPECT) == 1


async def test_token_found_inactive_is_refused_later_without_asking_again(
    issuer: Issuer, make_verifier: MakeVerifier, clock: FrozenClock
) -> None:
    """Signed, unexpired and inactive is final (tokens/cache.py): past the answer
    cache's TTL the verifier still refuses it by a lookup; another token is unaffected."""
    verifier = make_verifier(introspection=CREDENTIALS, introspection_ttl=5)
    await verifier.start()
    token = issuer.issue()
    issuer.revoked.add(token)
    with pytest.raises(Revoked):
        await verifier.verify_access_token(token)
    clock.advance(30)
    for _ in range(5):
        with pytest.raises(Revoked):
            await verifier.verify_access_token(token)
    assert issuer.count(INTROSPECT) == 1
    assert (await verifier.verify_access_token(issuer.issue())).sub == "user-1"
