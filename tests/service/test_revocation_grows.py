"""SECURITY.md A.7 #50: revocation state only grows. A smaller expiry never shortens
a ``jti`` or ``sid`` entry and an earlier cut-off never replaces a later one, in
whatever order the rows arrive (RFC 7009 §2.2: a revoked token stays revoked)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authgate.service.revocation import (
    KIND_JTI,
    KIND_SID,
    KIND_SUB,
    RevocationEvent,
    RevocationState,
)

_TABLE = {KIND_JTI: "jti", KIND_SID: "sid", KIND_SUB: "sub"}


def _held(state: RevocationState, kind: str, key: str) -> float | None:
    table: dict[str, float] = getattr(state, _TABLE[kind])
    return table.get(key)


def _event(kind: str, key: str, number: float) -> RevocationEvent:
    """jti / sid rows carry their purge time in ``expires_at``; sub rows their cut-off
    in ``value`` (and a purge time that outlives it)."""
    if kind == KIND_SUB:
        return RevocationEvent(kind, key, number, number + 3600.0)
    return RevocationEvent(kind, key, 0.0, number)


@pytest.mark.parametrize("kind", [KIND_JTI, KIND_SID, KIND_SUB])
@pytest.mark.parametrize("smaller", [0.0, -1.0, 1_000.0, -math.inf])
def test_a_smaller_number_never_overwrites(kind: str, smaller: float) -> None:
    state = RevocationState()
    state.apply(_event(kind, "k", 2_000_000_000.0))
    state.apply(_event(kind, "k", smaller))
    assert _held(state, kind, "k") == 2_000_000_000.0


@pytest.mark.parametrize("kind", [KIND_JTI, KIND_SID])
def test_a_shrunk_expiry_does_not_let_the_purge_un_revoke(kind: str) -> None:
    state = RevocationState()
    state.apply(_event(kind, "k", 5_000.0))
    state.apply(_event(kind, "k", 0.0))  # the replayed copy with expiry 0
    assert state.purge(now=1_000.0, sub_horizon=1.0) == 0
    assert _held(state, kind, "k") == 5_000.0


@pytest.mark.parametrize("kind", [KIND_JTI, KIND_SID, KIND_SUB])
def test_a_larger_number_extends(kind: str) -> None:
    state = RevocationState()
    state.apply(_event(kind, "k", 1_000.0))
    state.apply(_event(kind, "k", 2_000.0))
    assert _held(state, kind, "k") == 2_000.0


@pytest.mark.parametrize("kind", [KIND_JTI, KIND_SID])
def test_a_first_entry_is_kept_whatever_its_expiry(kind: str) -> None:
    # NaN compares false both ways: kept (revoked, never purged) rather than dropped.
    state = RevocationState()
    state.apply(_event(kind, "k", math.nan))
    assert _held(state, kind, "k") is not None
    state.apply(_event(kind, "k", 0.0))
    assert _held(state, kind, "k") is not None


_NUMBERS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@given(
    st.lists(
        st.tuples(st.sampled_from([KIND_JTI, KIND_SID, KIND_SUB]), st.sampled_from("ab"), _NUMBERS),
        max_size=40,
    )
)
def test_state_holds_the_largest_number_in_any_order(rows: list[tuple[str, str, float]]) -> None:
    state = RevocationState()
    largest: dict[tuple[str, str], float] = {}
    for kind, key, number in rows:
        state.apply(_event(kind, key, number))
        largest[kind, key] = max(number, largest.get((kind, key), -math.inf))
        assert _held(state, kind, key) == largest[kind, key]
