"""A deterministic, model-free text encoder: hashed word and character n-gram counts.

Honest baseline and test double: it finds texts that share words or spelling, not meaning.
Written here rather than taken from scikit-learn's HashingVectorizer so the core install
needs no scikit-learn and the vectors are identical in every process and version.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter

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
            grams.extend(_grams(word))
        return grams

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        # A text's vector is the sum of its words' vectors, so each distinct word is hashed
        # once (cached across texts) and weighted by its count: the same vectors as hashing
        # every feature of every word, ~100x faster on long texts (issue 17: 28 s for 10 MB).
        out = np.zeros((len(batch), self._dim), dtype=np.float32)
        for row, text in enumerate(batch):
            counts = Counter(_WORD.findall(text.lower()))
            if not counts:
                continue
            indices, signs = zip(*(_word_features(w, self._dim) for w in counts), strict=True)
            weights = np.repeat(
                np.fromiter(counts.values(), np.float32, len(counts)),
                [len(i) for i in indices],
            )
            np.add.at(out[row], np.concatenate(indices), np.concatenate(signs) * weights)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


def _grams(word: str) -> list[str]:
    """The character 3-, 4- and 5-grams of `` word `` (the word between spaces)."""
    padded = f" {word} "
    grams: list[str] = []
    for n in (3, 4, 5):
        grams.extend(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
    return grams


@functools.lru_cache(maxsize=1 << 17)
def _word_features(word: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Where one occurrence of ``word`` adds to a ``dim``-d vector, and with which signs."""
    codes = [zlib.crc32(f.encode("utf-8")) for f in (f"w:{word}", *_grams(word))]
    indices = np.array([code % dim for code in codes], dtype=np.int64)
    signs = np.array([1.0 if code & 0x80000000 else -1.0 for code in codes], dtype=np.float32)
    return indices, signs
