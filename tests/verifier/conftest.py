"""Fixtures for the verifier tests: a real loopback issuer and verifiers on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from authgate.clock import FrozenClock
from authgate.verifier import FetchLimits, JWKSVerifier

from ._issuer import AUDIENCE, Issuer

#: Short timeouts so the slow-answer tests stay quick (real I/O, not a sleep in a test),
#: yet well above what a loaded CI machine needs for a good answer.
FAST_LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=1.0, total_timeout=5.0)

MakeVerifier = Callable[..., JWKSVerifier]


@pytest.fixture
def issuer(clock: FrozenClock) -> Iterator[Issuer]:
    server = Issuer(clock)
    yield server
    server.close()


@pytest.fixture
async def make_verifier(issuer: Issuer, clock: FrozenClock) -> AsyncIterator[MakeVerifier]:
    """Build (not start) verifiers against ``issuer``; all are closed at teardown."""
    made: list[JWKSVerifier] = []

    def make(**kwargs: Any) -> JWKSVerifier:
        kwargs.setdefault("audience", AUDIENCE)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("limits", FAST_LIMITS)
        verifier = JWKSVerifier.from_issuer(issuer.url, **kwargs)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()
