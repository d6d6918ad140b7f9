"""Bad answers from the key URL: a clear JWKSError at start, and the last good
key set kept when they come on a refresh. Unsafe URLs refused at construction."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from authgate.errors import ConfigError, JWKSError, TokenError
from authgate.tokens import generate_key
from authgate.verifier import FetchLimits, JWKSVerifier

from ._issuer import AUDIENCE, Canned, Issuer
from .conftest import MakeVerifier

pytestmark = pytest.mark.anyio

JWKS = "/jwks"


def _json(doc: object) -> Canned:
    return Canned(body=orjson.dumps(doc))


def _public(key_alg: str = "EdDSA", /, **changes: object) -> dict[str, object]:
    jwk: dict[str, object] = dict(generate_key(key_alg).public_jwk())
    jwk.update(changes)
    return {k: v for k, v in jwk.items() if v is not None}


def _private(alg: str) -> dict[str, object]:
    return dict(generate_key(alg).private_jwk())


BAD_ANSWERS: dict[str, tuple[Canned, str]] = {
    "not json": (Canned(body=b"<html>hello</html>"), "not a JSON object"),
    "html content type": (
        Canned(body=b'{"keys": []}', content_type="text/html"),
        "content type is not JSON",
    ),
    "json array": (Canned(body=b"[]"), "not a JSON object"),
    "duplicate member": (Canned(body=b'{"keys": [], "keys": []}'), "not a JSON object"),
    "no keys member": (_json({"foo": 1}), '"keys" array'),
    "empty key set": (_json({"keys": []}), "empty"),
    "private Ed25519": (_json({"keys": [_private("EdDSA")]}), "private"),
    "private EC": (_json({"keys": [_private("ES256")]}), "private"),
    "HMAC oct key": (_json({"keys": [_private("HS256")]}), "private or symmetric"),
    "oct without k": (
        _json({"keys": [{"kty": "oct", "kid": "h", "alg": "HS256"}]}),
        "symmetric",
    ),
    "mixed symmetric": (
        _json({"keys": [_public(), {"kty": "oct", "kid": "h", "alg": "HS256"}]}),
        "symmetric",
    ),
    "duplicate kid": (_json({"keys": [_public(kid="a"), _public(kid="a")]}), "duplicate kid"),
    "no kid": (_json({"keys": [_public(kid=None)]}), "kid"),
    "RSA without alg": (_json({"keys": [_public("PS256", alg=None)]}), "no alg"),
    "unsupported alg": (_json({"keys": [_public("ES256", alg="ES384")]}), "unsupported alg"),
    "alg of another family": (_json({"keys": [_public("ES256", alg="EdDSA")]}), "cannot be used"),
    "HS alg on a public key": (_json({"keys": [_public(alg="HS256")]}), "unsupported alg"),
    "unsupported kty": (_json({"keys": [{"kty": "XYZ", "kid": "x", "alg": "EdDSA"}]}), "kty"),
    "encryption key": (_json({"keys": [_public(use="enc")]}), "not sig"),
    "key_ops without verify": (_json({"keys": [_public(key_ops=["encrypt"])]}), "key_ops"),
    "status 500": (Canned(status=500, body=b"{}"), "HTTP 500"),
    "redirect": (
        Canned(status=302, headers={"Location": "http://127.0.0.1:9/evil"}),
        "redirect refused",
    ),
    "huge declared body": (_json({"keys": [_public()], "pad": "x" * 70_000}), "larger than"),
    "huge streamed body": (
        Canned(body=b'{"keys": [], "pad": "' + b"x" * 200_000 + b'"}', content_length=False),
        "larger than",
    ),
    "compressed body": (
        Canned(body=gzip.compress(b'{"keys": []}'), headers={"Content-Encoding": "gzip"}),
        "compressed",
    ),
    "slow body": (Canned(body=b'{"keys": []}', chunks=2, pause=4.0), "ReadTimeout"),
}


@pytest.mark.parametrize("case", BAD_ANSWERS)
async def test_bad_jwks_answer_is_a_clear_error_at_start(
    case: str, issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    canned, message = BAD_ANSWERS[case]
    issuer.overrides[JWKS] = canned
    verifier = make_verifier()
    with pytest.raises(JWKSError, match=message):
        await verifier.start()
    assert not verifier.status().ready


@pytest.mark.parametrize("case", BAD_ANSWERS)
async def test_bad_jwks_answer_on_refresh_keeps_the_old_keys(
    case: str, issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    await verifier.start()
    kids = verifier.status().kids
    token = issuer.issue()
    issuer.overrides[JWKS] = BAD_ANSWERS[case][0]
    with pytest.raises(JWKSError, match=BAD_ANSWERS[case][1]):
        await verifier.refresh(force=True)
    assert (await verifier.verify_access_token(token)).sub == "user-1"
    status = verifier.status()
    assert status.kids == kids
    assert status.ready
    assert not status.healthy


async def test_slow_trickle_is_cut_by_the_total_timeout(issuer: Issuer) -> None:
    body = b'{"keys": [' + b" " * 40 + b"]}"
    issuer.overrides[JWKS] = Canned(body=body, chunks=40, pause=0.05)  # each read is quick
    limits = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=0.5)
    verifier = JWKSVerifier.from_jwks_url(
        issuer.url + JWKS, issuer=issuer.url, audience=AUDIENCE, limits=limits
    )
    with pytest.raises(JWKSError, match="timed out"):
        await verifier.start()
    await verifier.aclose()


async def test_alg_is_inferred_only_for_ed25519_and_p256(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    issuer.overrides[JWKS] = _json({"keys": [_public("ES256", alg=None, use=None)]})
    verifier = make_verifier()
    await verifier.start()
    assert len(verifier.status().kids) == 1
    issuer.overrides[JWKS] = _json({"keys": [_public("EdDSA", alg=None)]})
    await verifier.refresh(force=True)
    del issuer.overrides[JWKS]
    await verifier.refresh(force=True)
    await verifier.verify_access_token(issuer.issue())


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example.com/jwks",
        "http://10.0.0.1/jwks",
        "file:///etc/passwd",
        "ftp://127.0.0.1/jwks",
        "data:application/json,{}",
        "gopher://127.0.0.1:70/",
        "/relative/jwks",
        "https://user:pw@auth.example.com/jwks",
        "https://auth.example.com/jwks#fragment",
        "http://127.0.0.1:99999/jwks",
        "https:///jwks",
        "",
    ],
)
def test_unsafe_key_urls_are_refused_at_construction(url: str) -> None:
    with pytest.raises(ConfigError):
        JWKSVerifier.from_jwks_url(url, issuer="https://auth.example.com", audience=AUDIENCE)
    with pytest.raises(ConfigError):
        JWKSVerifier.from_issuer(url, audience=AUDIENCE)


def test_an_issuer_with_a_query_is_refused() -> None:
    with pytest.raises(ConfigError, match="RFC 8414"):
        JWKSVerifier.from_issuer("https://auth.example.com/?tenant=a", audience=AUDIENCE)


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com/jwks",
        "http://127.0.0.1:8000/jwks",
        "http://127.9.9.9/jwks",
        "http://localhost:8000/jwks",
        "http://[::1]:8000/jwks",
    ],
)
def test_https_and_loopback_urls_are_accepted(url: str) -> None:
    JWKSVerifier.from_jwks_url(url, issuer="https://auth.example.com", audience=AUDIENCE)


#: Wycheproof json_web_key_test.json cases this verifier accepts: only the RS256 set.
#: The valid HMAC sets (2, 13-15) are refused by policy: a JWKS never carries secrets.
WYCHEPROOF_ACCEPTED = {5}
WYCHEPROOF = Path(__file__).resolve().parents[1] / "vectors" / "wycheproof"


async def test_wycheproof_key_sets_served_as_jwks(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    suite = orjson.loads((WYCHEPROOF / "json_web_key_test.json").read_bytes())
    accepted: set[int] = set()
    for group in suite["testGroups"]:
        issuer.overrides[JWKS] = _json(group.get("public") or group["private"])
        for test in group["tests"]:
            verifier = make_verifier()
            try:
                await verifier.start()
            except JWKSError:
                continue
            finally:
                await verifier.aclose()
            if test["result"] == "valid":
                # Steps 1–4 only: the payload "foo" is not a claims set.
                assert verifier.codec._check(test["jws"])[1] == b"foo"
                accepted.add(test["tcId"])
            else:
                with pytest.raises(TokenError):
                    verifier.codec._check(test["jws"])
    assert accepted == WYCHEPROOF_ACCEPTED
