"""Drift: did the data change? A two-sample test on embeddings.

The statistic is the maximum mean discrepancy (MMD, Gretton et al. 2012) with a Gaussian
kernel whose width is the median distance in the pooled sample; its p-value comes from a
permutation test (the samples' labels shuffled ``permutations`` times, all permutations
computed as one matrix product). Large samples are subsampled (``max_samples`` per side),
which keeps the test to seconds on 100,000 vectors. The effect size is the MMD itself (0
= same distribution). The items that changed most are the current items farthest from
anything in the reference (lowest similarity to their nearest reference item, among at
most 10,000 reference items).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.ops.neighbours import knn_graph, unit
from embedspace.progress import ProgressCallback, report


@dataclass(frozen=True)
class DriftResult:
    """The test's answer: ``drift`` when ``p_value < alpha``."""

    drift: bool
    p_value: float
    effect_size: float
    alpha: float
    reference_size: int
    current_size: int
    most_changed: list[tuple[int, float]]  # (row in current, similarity to nearest reference)


def _sample(vectors: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(vectors) <= size:
        return vectors
    return vectors[rng.choice(len(vectors), size, replace=False)]


def drift_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    alpha: float = 0.05,
    permutations: int = 500,
    max_samples: int = 2000,
    changed: int = 10,
    seed: int = 0,
) -> DriftResult:
    """Test whether ``current`` comes from the same distribution as ``reference``."""
    if reference.ndim != 2 or current.ndim != 2 or reference.shape[1] != current.shape[1]:
        raise InvalidInput(
            "Reference and current must be (n, dim) arrays of the same dim (one encoder)."
        )
    if len(reference) < 5 or len(current) < 5:
        raise InvalidInput("Need at least 5 items on each side to test for drift.")
    if not 0 < alpha < 1 or permutations < 10:
        raise InvalidInput("alpha must be in (0, 1) and permutations at least 10.")
    rng = np.random.default_rng(seed)
    a = unit(_sample(reference, max_samples, rng)).astype(np.float64)
    b = unit(_sample(current, max_samples, rng)).astype(np.float64)
    pooled = np.vstack([a, b])
    squared = np.maximum(2.0 - 2.0 * pooled @ pooled.T, 0.0)  # unit vectors: |x-y|^2
    width = float(np.median(squared[np.triu_indices(len(pooled), 1)])) or 1.0
    kernel = np.exp(-squared / width)
    n, m = len(a), len(b)
    labels = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    observed = float(labels @ kernel @ labels)
    shuffled = np.stack([rng.permutation(labels) for _ in range(permutations)], axis=1)
    null = np.einsum("ip,ip->p", shuffled, kernel @ shuffled)
    p_value = float((1 + np.sum(null >= observed)) / (1 + permutations))
    # Nearest reference item of every current item, the reference sampled to 10,000 items
    # (a 50,000 x 50,000 search would cost more than the test itself).
    _, similarities = knn_graph(_sample(reference, 10_000, rng), 1, queries=current)
    nearest = similarities[:, 0]
    order = np.argsort(nearest, kind="stable")[:changed]
    return DriftResult(
        drift=p_value < alpha,
        p_value=round(p_value, 6),
        effect_size=round(float(np.sqrt(max(observed, 0.0))), 6),
        alpha=alpha,
        reference_size=len(reference),
        current_size=len(current),
        most_changed=[(int(i), round(float(nearest[i]), 6)) for i in order],
    )


#: The encoder for files when neither side is a space and none is given.
DEFAULT_ENCODER = "minilm-l6"


@dataclass(frozen=True)
class ChangedItem:
    """A current item that is far from everything in the reference."""

    id: str
    similarity: float  # to its nearest reference item
    content: str


@dataclass(frozen=True)
class Comparison:
    """``drift_test``'s answer for two sides, with the current items that changed most."""

    result: DriftResult
    most_changed: list[ChangedItem]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, as the CLI's ``--json`` and the HTTP API give them."""
        result = self.result
        return {
            "drift": result.drift,
            "p_value": result.p_value,
            "effect_size": result.effect_size,
            "alpha": result.alpha,
            "reference_size": result.reference_size,
            "current_size": result.current_size,
            "most_changed": [
                {"id": c.id, "similarity": c.similarity, "content": c.content}
                for c in self.most_changed
            ],
        }


@dataclass(frozen=True)
class _Side:
    ids: list[str]
    vectors: np.ndarray
    contents: list[str]
    encoder: str


def compare(
    reference: str,
    current: str,
    *,
    reference_where: Mapping[str, Any] | None = None,
    current_where: Mapping[str, Any] | None = None,
    encoder: str | None = None,
    text_fields: Sequence[str] = (),
    alpha: float = 0.05,
    permutations: int = 500,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> Comparison:
    """Test for drift between ``reference`` and ``current``, each a space (name or path;
    a slice of it with ``*_where``) or a file of texts (its ``text_fields``).

    Files are embedded with ``encoder``; by default the encoder of the first side that is
    a space, else ``minilm-l6``. Both sides must come from the same encoder.
    """
    from embedspace.store import Space

    if encoder is None:
        spaces = [n for n in (reference, current) if Space.exists(n)]
        if spaces:
            with Space.open(spaces[0]) as opened:
                encoder = opened.stamp.encoder
    chosen = encoder or DEFAULT_ENCODER
    before = _side(reference, reference_where, text_fields, chosen, on_progress)
    after = _side(current, current_where, text_fields, chosen, on_progress)
    if before.encoder != after.encoder:
        raise InvalidInput(
            f"The two sides were embedded by different encoders ({before.encoder}, "
            f"{after.encoder}); compare like with like."
        )
    report(on_progress, f"Testing for drift ({permutations} permutations)", 0, None)
    result = drift_test(
        before.vectors, after.vectors, alpha=alpha, permutations=permutations, seed=seed
    )
    changed = [ChangedItem(after.ids[i], s, after.contents[i]) for i, s in result.most_changed]
    return Comparison(result, changed)


def _side(
    name: str,
    where: Mapping[str, Any] | None,
    text_fields: Sequence[str],
    encoder: str,
    on_progress: ProgressCallback | None,
) -> _Side:
    """The ids, vectors, contents and encoder of one side: a space (optionally a slice)
    or a file embedded with ``encoder``."""
    from embedspace.store import Space

    if Space.exists(name):
        with Space.open(name) as opened:
            snapshot = opened.snapshot(where)
            used = opened.stamp.encoder
        if not len(snapshot):
            raise InvalidInput(
                f"No items in '{name}'" + (" match the --where filter." if where else ".")
            )
        return _Side(snapshot.ids, snapshot.vectors, snapshot.contents, used)
    if where:
        raise InvalidInput(f"--where applies to spaces; '{name}' is a file.")
    if not Path(name).is_file():
        raise InvalidInput(f"'{name}' is neither a space nor a file.")
    from embedspace.encoders import get
    from embedspace.io import Record, read_records
    from embedspace.ops.embedding import embed_texts

    records = [r for r in read_records(name, text_fields=text_fields) if isinstance(r, Record)]
    if not records:
        raise InvalidInput(f"{name} holds no text rows.")
    chosen = get(encoder)
    vectors = embed_texts([r.content for r in records], chosen, on_progress=on_progress)
    return _Side([r.id for r in records], vectors, [r.content for r in records], chosen.name)
