"""Padding-aware cuts of sorted texts into model calls (encoders/bucketing.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedspace.encoders.bucketing import padded_cuts


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
    assert cuts[0][0] == 0 and cuts[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    assert all(0 < stop - start <= size for start, stop in cuts)
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
