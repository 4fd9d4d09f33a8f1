"""Word vectors by name: the models the ``words`` and ``fix`` applications work with."""

from __future__ import annotations

from embedspace.encoders import get as get_encoder
from embedspace.encoders.word_vectors import WordVectors
from embedspace.errors import InvalidInput


def load_words(model: str) -> WordVectors:
    """The word vectors called ``model``; a clear error for any other kind of encoder."""
    encoder = get_encoder(model)
    if not isinstance(encoder, WordVectors):
        raise InvalidInput(
            f"'{model}' is not a word-vector model. Use glove-50, a word2vec/GloVe/fastText "
            "file, or a folder made by 'embedspace train word2vec'."
        )
    return encoder
