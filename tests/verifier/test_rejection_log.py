"""The verifier says why it rejects a token (DEBUG, logger ``authgate.verifier``),
and never writes the token itself: a service configured with the wrong audience
can find out why every request gets 401."""

from __future__ import annotations

import logging

import pytest

from authgate.errors import BadSignature, InvalidClaim, TokenError, UnknownKey

from ._issuer import Issuer, random_kid_token
from .conftest import MakeVerifier

pytestmark = pytest.mark.anyio


def _rejections(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "authgate.verifier" and "rejected" in r.message]


async def test_wrong_audience_is_logged_with_what_the_verifier_expects(
    issuer: Issuer, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = make_verifier(audience="billing")
    await verifier.start()
    token = issuer.issue()  # aud is the issuer's own audience ("orders")
    with caplog.at_level(logging.DEBUG, logger="authgate.verifier"), pytest.raises(InvalidClaim):
        await verifier.verify_access_token(token)
    [record] = _rejections(caplog)
    assert record.levelno == logging.DEBUG
    assert "invalid_claim" in record.message
    assert "audience does not match" in record.message
    assert "aud='billing'" in record.message
    assert token not in caplog.text


async def test_each_rejection_reason_is_logged_never_the_token(
    issuer: Issuer, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = make_verifier()
    await verifier.start()
    good = issuer.issue()
    head, payload, signature = good.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    cases: list[tuple[str, type[TokenError], str]] = [
        (f"{head}.{payload}.{flipped}{signature[1:]}", BadSignature, "bad_signature"),
        (random_kid_token(verifier.clock, issuer.url), UnknownKey, "unknown_key"),  # type: ignore[arg-type]
        ("not-a-token", TokenError, "malformed"),
    ]
    with caplog.at_level(logging.DEBUG, logger="authgate.verifier"):
        for token, error, _ in cases:
            with pytest.raises(error):
                await verifier.verify_access_token(token)
    records = _rejections(caplog)
    assert [code in r.message for r, (_, _, code) in zip(records, cases, strict=True)] == [
        True
    ] * len(cases)
    for token, _, _ in cases:
        assert token not in caplog.text


async def test_rejections_are_not_logged_above_debug(
    issuer: Issuer, make_verifier: MakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = make_verifier(audience="billing")
    await verifier.start()
    with caplog.at_level(logging.INFO, logger="authgate.verifier"), pytest.raises(InvalidClaim):
        await verifier.verify_access_token(issuer.issue())
    assert _rejections(caplog) == []
