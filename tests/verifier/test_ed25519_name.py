"""RFC 9864's "Ed25519" name through the verifier: a real authgate server set to
``AUTHGATE_SIGNING_ALGORITHM=Ed25519`` publishes and signs under that name and
another service verifies it; a JWK Set saying "Ed25519" verifies tokens still
named "EdDSA" by the same key; the name never binds to another key."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest

from authgate.clock import SystemClock
from authgate.errors import BadSignature
from authgate.server import create_app
from authgate.server.check import check_settings
from authgate.testing import test_settings
from authgate.tokens import KeyRing, TokenCodec, generate_key
from authgate.tokens._encoding import b64url_decode, b64url_encode
from authgate.verifier import JWKSVerifier

from ._issuer import AUDIENCE, Canned, Issuer
from ._uvicorn import bound_socket, serving
from .conftest import MakeVerifier

pytestmark = pytest.mark.anyio

PASSWORD = "amber-lantern-orbit-73"


def _header(token: str) -> dict[str, object]:
    header: dict[str, object] = json.loads(b64url_decode(token.split(".")[0].encode()))
    return header


async def test_a_server_set_to_ed25519_signs_under_that_name_and_is_verified(
    tmp_path: Path,
) -> None:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = test_settings(tmp_path, issuer=url, audience="authgate", signing_algorithm="Ed25519")
    assert not [p for p in check_settings(settings) if p.setting == "AUTHGATE_SIGNING_ALGORITHM"]
    app = create_app(settings, clock=SystemClock())
    async with serving(app, sock) as served, httpx.AsyncClient(base_url=served) as http:
        made = await http.post("/users", json={"username": "alice", "password": PASSWORD})
        assert made.status_code == 201, made.text
        form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
        answer = await http.post("/auth/token", data=form)
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        assert _header(token)["alg"] == "Ed25519"
        jwks = (await http.get("/.well-known/jwks.json")).json()
        assert [k["alg"] for k in jwks["keys"]] == ["Ed25519"]
        async with JWKSVerifier.from_issuer(served, audience="authgate") as verifier:
            assert (await verifier.verify_access_token(token)).sub == made.json()["id"]
        assert (
            await http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        ).is_success


async def test_a_jwks_saying_ed25519_verifies_tokens_named_eddsa_and_back(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    eddsa_token = issuer.issue()
    assert _header(eddsa_token)["alg"] == "EdDSA"
    renamed = [dict(k) | {"alg": "Ed25519"} for k in issuer.ring.jwks()["keys"]]
    issuer.overrides["/jwks"] = Canned(body=orjson.dumps({"keys": renamed}))
    verifier = make_verifier()
    await verifier.start()
    assert (await verifier.verify_access_token(eddsa_token)).sub == "user-1"


async def test_an_ed25519_header_is_refused_by_an_es256_key_of_that_kid(
    issuer: Issuer, make_verifier: MakeVerifier
) -> None:
    """A valid ES256 signature, its header relabelled "Ed25519": the published key is
    ES256, so the token is refused (RFC 8725 §3.1)."""
    es = generate_key("ES256")
    issuer.overrides["/jwks"] = Canned(body=orjson.dumps({"keys": [es.public_jwk()]}))
    codec = TokenCodec(KeyRing.single(es), issuer=issuer.url, audience=AUDIENCE, clock=issuer.clock)
    claims = codec.issue(sub="mallory", ttl=900, client_id="web")[1]
    header = b64url_encode(orjson.dumps({"alg": "Ed25519", "kid": es.kid, "typ": "at+jwt"}))
    signing_input = header + b"." + b64url_encode(orjson.dumps(claims))
    forged = (signing_input + b"." + b64url_encode(es.sign(signing_input))).decode()
    verifier = make_verifier()
    await verifier.start()
    with pytest.raises(BadSignature):
        await verifier.verify_access_token(forged)
