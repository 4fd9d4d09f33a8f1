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

from dataclasses import dataclass

import numpy as np

from embedspace.errors import InvalidInput
from embedspace.ops.neighbours import knn_graph, unit


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
