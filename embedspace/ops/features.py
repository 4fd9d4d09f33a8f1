"""Embeddings as features: an encoder as a scikit-learn transformer, so that
``make_pipeline(EmbeddingTransformer("minilm-l6"), LogisticRegression())`` is one line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder

try:  # scikit-learn is optional; without it this is still a usable fit/transform object
    from sklearn.base import BaseEstimator, TransformerMixin
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    BaseEstimator, TransformerMixin = object, object  # type: ignore[misc,assignment]


class EmbeddingTransformer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Turns a list of texts (or, with ``images=True``, image paths) into a float32
    ``(n, dim)`` array. Stateless: ``fit`` learns nothing. The encoder loads on first use."""

    def __init__(
        self,
        encoder: str | Encoder = "minilm-l6",
        images: bool = False,
        batch_size: int | None = None,
    ) -> None:
        self.encoder = encoder
        self.images = images
        self.batch_size = batch_size

    def fit(self, X: Sequence[Any], y: Any = None) -> EmbeddingTransformer:
        """Nothing to learn; returns self."""
        return self

    def transform(self, X: Sequence[Any]) -> np.ndarray:
        """Embed ``X``."""
        model = self._model()
        items = list(np.asarray(X, dtype=object).ravel()) if not isinstance(X, list) else X
        if self.images:
            return model.encode_images(items, batch_size=self.batch_size)
        return model.encode([str(x) for x in items], batch_size=self.batch_size)

    def _model(self) -> Encoder:
        if not hasattr(self, "_encoder_"):
            self._encoder_ = get_encoder(self.encoder)
        return self._encoder_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``embedding_0`` ... ``embedding_{dim-1}``."""
        return np.asarray([f"embedding_{i}" for i in range(self._model().dim)], dtype=object)
