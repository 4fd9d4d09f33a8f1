"""Padding-aware cuts of sorted texts into model calls, and their spread over cores
(encoders/bucketing.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedspace.encoders.bucketing import CALL_OVERHEAD_TOKENS, halve, padded_cuts, spread


def cost(lengths: list[int], cuts: list[tuple[int, int]], overhead: int) -> int:
    return sum(overhead + (stop - start) * lengths[stop - 1] for start, stop in cuts)


def every_partition(count: int, size: int) -> list[list[tuple[int, int]]]:
    found = []
    for inner in itertools.product([False, True], repeat=max(0, count - 1)):
        bounds = [0] + [i + 1 for i, cut in enumerate(inner) if cut] + [count]
        cuts = list(itertools.pairwise(bounds))
        if all(stop - start <= size for start, stop in cuts):
            found.append(cuts)
    return found


def assert_cover(cuts: list[tuple[int, int]], count: int) -> None:
    """``cuts`` cover texts 0..count once: in order, no gap, none empty."""
    assert cuts[0][0] == 0 and cuts[-1][1] == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    assert all(stop > start for start, stop in cuts)


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 300), min_size=1, max_size=10).map(sorted),
    size=st.integers(1, 6),
    overhead=st.integers(0, 40),
)
def test_cuts_cover_every_text_once_and_cost_no_more_than_any_other_partition(
    lengths: list[int], size: int, overhead: int
) -> None:
    cuts = padded_cuts(np.array(lengths), size, overhead)
    assert_cover(cuts, len(lengths))
    assert all(stop - start <= size for start, stop in cuts)
    best = min(cost(lengths, p, overhead) for p in every_partition(len(lengths), size))
    assert cost(lengths, cuts, overhead) == best


def test_one_long_text_gets_its_own_call_instead_of_padding_the_short_ones() -> None:
    lengths = np.array([12] * 28 + [120])
    assert padded_cuts(lengths, 32) == [(0, 28), (28, 29)]


def test_equal_lengths_take_as_few_calls_as_the_batch_size_allows() -> None:
    cuts = padded_cuts(np.full(70, 20), 32)
    assert len(cuts) == 3 and all(stop - start <= 32 for start, stop in cuts)


def test_bad_input_is_refused() -> None:
    assert padded_cuts(np.array([], dtype=np.int64), 32) == []
    with pytest.raises(ValueError, match="sorted"):
        padded_cuts(np.array([5, 3]), 32)
    with pytest.raises(ValueError, match="at least 1"):
        padded_cuts(np.array([5]), 0)


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 60), min_size=0, max_size=40).map(sorted),
    size=st.integers(1, 12),
    parts=st.integers(1, 8),
)
def test_spread_balances_the_calls_over_the_cores(
    lengths: list[int], size: int, parts: int
) -> None:
    sorted_lengths = np.array(lengths, dtype=np.int64)
    cuts = padded_cuts(sorted_lengths, size)
    spread_out = spread(cuts, sorted_lengths, parts)
    if not lengths:
        assert spread_out == []
        return
    assert_cover(spread_out, len(lengths))
    assert {a for a, _ in cuts} <= {a for a, _ in spread_out}  # only ever split further

    def one(call: tuple[int, int]) -> int:
        return cost(lengths, [call], CALL_OVERHEAD_TOKENS)

    dearest = max(spread_out, key=one)
    balanced = one(dearest) * parts <= cost(lengths, spread_out, CALL_OVERHEAD_TOKENS)
    assert (len(spread_out) >= parts and balanced) or dearest[1] - dearest[0] == 1
    assert spread(spread_out, sorted_lengths, parts) == spread_out  # nothing left to do


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 60), min_size=2, max_size=30).map(sorted))
def test_one_call_is_split_where_its_halves_cost_most_nearly_the_same(lengths: list[int]) -> None:
    def dearer_half(middle: int) -> int:
        return max(
            cost(lengths, [(0, middle)], CALL_OVERHEAD_TOKENS),
            cost(lengths, [(middle, stop)], CALL_OVERHEAD_TOKENS),
        )

    stop = len(lengths)
    middle = halve((0, stop), np.array(lengths))
    best = min(dearer_half(m) for m in range(1, stop))  # every split tried
    assert 0 < middle < stop and dearer_half(middle) == best
    first, second = spread([(0, stop)], np.array(lengths), 2)[:2]
    assert first[0] == 0 and second[0] <= middle  # spread cut there first


def test_spread_leaves_many_even_calls_alone() -> None:
    lengths = np.full(640, 20)
    cuts = padded_cuts(lengths, 32)
    assert spread(cuts, lengths, 2) == cuts
    lengths = np.array([20] * 32 + [40] * 8)  # one call would cost 656 of 992 token-steps:
    cuts = padded_cuts(lengths, 32)  # the other core would idle for half of it
    assert cuts == [(0, 32), (32, 40)]
    assert spread(cuts, lengths, 2) == [(0, 16), (16, 32), (32, 40)]
