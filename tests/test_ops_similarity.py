from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.errors import DimensionMismatch, InvalidInput


def test_similarity_of_two_texts_and_two_vectors() -> None:
    assert es.similarity("the cat sat", "the cat sat", encoder="fake") == pytest.approx(
        1.0, abs=1e-5
    )
    a, b = np.array([1.0, 0.0]), np.array([3.0, 4.0])
    assert es.similarity(a, b) == pytest.approx(0.6)
    assert es.similarity(a, b, metric="dot") == pytest.approx(3.0)
    assert es.similarity(a, b, metric="euclidean") == pytest.approx(-np.sqrt(20.0))


def test_matrix_form() -> None:
    left = ["the cat sat", "stock prices fell"]
    right = ["a cat sat down", "prices fell", "nothing alike"]
    matrix = es.similarity_matrix(left, right, encoder="fake")
    assert matrix.shape == (2, 3) and matrix.dtype == np.float32
    vectors_l, vectors_r = es.embed(left, "fake"), es.embed(right, "fake")
    np.testing.assert_allclose(matrix, vectors_l @ vectors_r.T, atol=1e-6)
    square = es.similarity_matrix(left, encoder="fake")
    np.testing.assert_allclose(np.diag(square), 1.0, atol=1e-5)


def test_errors() -> None:
    with pytest.raises(InvalidInput, match="Unknown metric 'l1'"):
        es.similarity("a", "b", metric="l1", encoder="fake")
    with pytest.raises(DimensionMismatch):
        es.similarity(np.ones(3), np.ones(4))


def test_one_score_convention_for_similarity_and_search(tmp_path: Path) -> None:
    """Higher is better everywhere: euclidean scores are minus the distance, in
    ``similarity``, ``similarity_matrix`` and a euclidean space's search results alike."""
    a, b = np.array([1.0, 2.0, 2.0]), np.array([1.0, 0.0, 0.0])
    distance = float(np.linalg.norm(a - b))
    assert es.similarity(a, b, metric="euclidean") == pytest.approx(-distance)
    matrix = es.similarity_matrix(np.stack([a, b]), metric="euclidean")
    np.testing.assert_allclose(matrix, [[0.0, -distance], [-distance, 0.0]], atol=1e-6)
    space = es.Space.create(tmp_path / "e", encoder="fake", metric="euclidean")
    vectors = np.zeros((2, 64), dtype=np.float32)
    vectors[0, :3], vectors[1, :3] = a, b
    space.add(["a", "b"], ids=["a", "b"], vectors=vectors)
    (nearest, other) = space.search(vectors[0], k=2)
    assert nearest.score == pytest.approx(0.0, abs=1e-6)
    assert other.score == pytest.approx(es.similarity(vectors[0], vectors[1], metric="euclidean"))
