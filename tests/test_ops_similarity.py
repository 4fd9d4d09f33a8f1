from __future__ import annotations

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
