"""A deterministic, model-free text encoder: hashed word and character n-gram counts.

Honest baseline and test double: it finds texts that share words or spelling, not meaning.
Written here rather than taken from scikit-learn's HashingVectorizer so the core install
needs no scikit-learn and the vectors are identical in every process and version.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.errors import InvalidInput

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder(Encoder):
    """Signed feature hashing of words and character 3–5-grams, L2-normalised.

    ``dim`` sets the vector length (default 256). Needs no weights and no files.
    """

    source = "built in (no model)"

    def __init__(self, dim: int = 256, *, name: str | None = None) -> None:
        if dim < 8:
            raise InvalidInput(f"HashingEncoder dim must be at least 8, not {dim}.")
        self._dim = dim
        self.name = name or ("hashing" if dim == 256 else f"hashing-{dim}")

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return self._dim

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        grams = [f"w:{w}" for w in words]
        for word in words:
            padded = f" {word} "
            for n in (3, 4, 5):
                grams.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
        return grams

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        out = np.zeros((len(batch), self._dim), dtype=np.float32)
        for row, text in enumerate(batch):
            for feature in self._features(text):
                code = zlib.crc32(feature.encode("utf-8"))
                sign = 1.0 if code & 0x80000000 else -1.0
                out[row, code % self._dim] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
