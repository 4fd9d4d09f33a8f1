"""The float16 copy for single queries (``store.half_scan``): its answer is the float32
scan's, proven or else handed back; and a ``VectorTable`` keeps it in step with its rows."""

from __future__ import annotations

import numpy as np
import pytest

from embedspace.store import exact
from embedspace.store.database import Changes
from embedspace.store.exact import VectorTable, top_k
from embedspace.store.half_scan import HalfCopy


def _unit(rng: np.random.Generator, rows: int, dim: int = 32) -> np.ndarray:
    matrix = rng.normal(size=(rows, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _same_as_float32(matrix: np.ndarray, query: np.ndarray, got: tuple, k: int) -> None:
    positions, scores = got
    want_positions, want_scores = top_k(matrix, query[None, :], k, "cosine")
    np.testing.assert_allclose(scores, want_scores[0], rtol=1e-5, atol=1e-6)
    # the same rows, up to the order of exact ties
    assert sorted(positions.tolist()) == sorted(want_positions[0].tolist())


@pytest.mark.parametrize("k", [1, 10, 50])
def test_the_float16_pass_gives_the_float32_answer(k: int) -> None:
    rng = np.random.default_rng(0)
    matrix = _unit(rng, 3000)
    copy = HalfCopy.of(matrix)
    assert copy is not None and len(copy) == 3000
    for query in _unit(rng, 20):
        got = copy.top_k(matrix, query, k)
        assert got is not None
        _same_as_float32(matrix, query, got, k)


def test_dot_products_of_unnormalised_vectors_are_proven_too() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(2000, 16)).astype(np.float32) * rng.uniform(0.1, 30, (2000, 1))
    matrix = matrix.astype(np.float32)
    copy = HalfCopy.of(matrix)
    assert copy is not None
    query = rng.normal(size=16).astype(np.float32) * 7
    got = copy.top_k(matrix, query, 10)
    assert got is not None
    want_positions, want_scores = top_k(matrix, query[None, :], 10, "dot")
    assert got[0].tolist() == want_positions[0].tolist()
    np.testing.assert_allclose(got[1], want_scores[0], rtol=1e-5)


def test_a_proof_that_fails_takes_four_times_the_candidates_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from embedspace.store import half_scan

    passes: list[int] = []
    real = half_scan.faiss_threads

    def counted(count: int) -> object:
        passes.append(count)
        return real(count)

    monkeypatch.setattr(half_scan, "EXTRA", 0)  # k candidates alone can never be proven
    monkeypatch.setattr(half_scan, "faiss_threads", counted)
    rng = np.random.default_rng(5)
    matrix = _unit(rng, 3000)
    copy = HalfCopy.of(matrix)
    assert copy is not None
    query = _unit(rng, 1)[0]
    got = copy.top_k(matrix, query, 1)
    assert got is not None and len(passes) == 2  # failed with 1, proven with 4
    _same_as_float32(matrix, query, got, 1)
    # near-ties nothing can prove: one retry, then the caller's float32 scan
    passes.clear()
    base = _unit(rng, 1)[0]
    ties = (base + rng.normal(scale=1e-6, size=(3000, 32))).astype(np.float32)
    tied = HalfCopy.of(ties)
    assert tied is not None and tied.top_k(ties, base, 1) is None
    assert len(passes) == 2


def test_rows_float16_cannot_tell_apart_are_not_guessed() -> None:
    # 500 rows closer to each other than float16 can resolve: no float16 score can prove
    # which ten are best, so the copy says so (the caller scans float32) or proves it with
    # every row as a candidate; either way no wrong answer comes back.
    rng = np.random.default_rng(2)
    base = _unit(rng, 1)[0]
    matrix = (base + rng.normal(scale=1e-6, size=(2000, 32))).astype(np.float32)
    copy = HalfCopy.of(matrix)
    assert copy is not None
    assert copy.top_k(matrix, base, 10) is None
    assert copy.error_bound(base) > 0
    # and a k that would re-score much of the table goes to the float32 scan at once
    spread = _unit(rng, 2000)
    wide = HalfCopy.of(spread)
    assert wide is not None and wide.top_k(spread, base, 100) is None


def test_components_beyond_float16_keep_to_float32() -> None:
    matrix = np.ones((10, 4), np.float32)
    matrix[3, 2] = 1e6
    assert HalfCopy.of(matrix) is None
    copy = HalfCopy.of(np.ones((10, 4), np.float32))
    assert copy is not None
    assert not copy.append(matrix[3:4])  # refused, nothing added
    assert len(copy) == 10


def test_a_table_makes_the_copy_at_its_second_single_query_and_keeps_it_in_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exact, "HALF_COPY_ROWS", 100)
    rng = np.random.default_rng(3)
    vectors = _unit(rng, 1200)
    table = VectorTable(32)
    table.apply(Changes(1, np.arange(1, 1201, dtype=np.int64), vectors, np.zeros(0, np.int64)))
    queries = _unit(rng, 6)

    def check(query: np.ndarray) -> None:
        rowids, scores = table.search(query[None, :], 5, "cosine")
        positions, want = top_k(table.matrix, query[None, :], 5, "cosine")
        assert sorted(rowids[0].tolist()) == sorted(table.rowids[positions[0]].tolist())
        np.testing.assert_allclose(scores[0], want[0], rtol=1e-5, atol=1e-6)

    check(queries[0])
    assert table._half is None  # one query (a fresh CLI search): no copy made
    check(queries[1])
    assert table._half is not None and len(table._half) == 1200
    # delete every other row, then add new ones: the copy follows, in the table's order
    deleted = np.arange(2, 1201, 2, dtype=np.int64)
    table.apply(Changes(2, np.zeros(0, np.int64), np.zeros((0, 32), np.float32), deleted))
    added = _unit(rng, 50)
    table.apply(Changes(3, np.arange(1201, 1251, dtype=np.int64), added, np.zeros(0, np.int64)))
    assert len(table._half) == len(table) == 650
    for query in queries[2:]:
        check(query)
        assert table._half.top_k(table.matrix, query, 5) is not None  # answered, proven
    check(added[7])  # a new row is found: its own best match
    assert table.search(added[7][None, :], 1, "cosine")[0][0, 0] == 1208
    # a row beyond float16's range: the copy is dropped, answers stay right
    loud = np.full((1, 32), 1e6, np.float32)
    table.apply(Changes(4, np.array([1251], np.int64), loud, np.zeros(0, np.int64)))
    assert table._half is None
    assert table.search(np.abs(queries[2])[None, :], 1, "dot")[0][0, 0] == 1251


def test_euclidean_and_batches_keep_to_the_float32_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exact, "HALF_COPY_ROWS", 10)
    rng = np.random.default_rng(4)
    vectors = _unit(rng, 50)
    table = VectorTable(32)
    table.apply(Changes(1, np.arange(1, 51, dtype=np.int64), vectors, np.zeros(0, np.int64)))
    for _ in range(3):
        table.search(vectors[:1], 3, "euclidean")
        table.search(vectors[:4], 3, "cosine")
    assert table._half is None
