"""Outliers: which items fit the rest least. Three scores, higher = more unusual:

- ``knn`` (default): 1 - the mean cosine similarity to the item's k nearest neighbours
  (simple, scales through the neighbour graph);
- ``lof``: the local outlier factor (density relative to the neighbours' density);
- ``iforest``: an isolation forest on the vectors (PCA to 32 dimensions first).

The threshold flags items whose score is far above the typical one: median + 3 x the
scaled median absolute deviation, unless a ``contamination`` share is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embedspace.errors import InvalidInput, MissingExtra
from embedspace.ops.items import snapshot_matching
from embedspace.ops.neighbours import knn_graph, unit
from embedspace.ops.stages import counted
from embedspace.progress import ProgressCallback, report
from embedspace.store.items import Snapshot

if TYPE_CHECKING:
    from embedspace.store import Space

METHODS = ("knn", "lof", "iforest")


@dataclass(frozen=True)
class OutlierScore:
    """One item's unusualness and whether it is past the threshold."""

    id: str
    score: float
    outlier: bool


def outlier_scores(
    vectors: np.ndarray, method: str = "knn", k: int = 10, seed: int = 0, metric: str = "cosine"
) -> np.ndarray:
    """One score per vector, higher = more unusual. ``metric`` is the space's: cosine
    compares directions only (embeddings); euclidean also lengths (raw features)."""
    if method not in METHODS:
        raise InvalidInput(f"Unknown method '{method}'; choose one of: {', '.join(METHODS)}.")
    if len(vectors) < 3:
        raise InvalidInput("Need at least 3 items to tell what is unusual.")
    k = min(k, len(vectors) - 1)
    if method == "knn":
        _, similarities = knn_graph(vectors, k, metric=metric)
        finite = np.where(np.isfinite(similarities), similarities, 0)
        distance = 1.0 - finite if metric == "cosine" else -finite
        return np.asarray(distance.mean(axis=1), dtype=np.float64)
    try:
        from sklearn.decomposition import PCA
        from sklearn.ensemble import IsolationForest
        from sklearn.neighbors import LocalOutlierFactor
    except ImportError:
        raise MissingExtra("LOF and isolation-forest outliers", "words", "scikit-learn") from None
    cosine = metric == "cosine"
    data = unit(vectors) if cosine else np.asarray(vectors, dtype=np.float32)
    if method == "lof":
        model = LocalOutlierFactor(n_neighbors=k, metric="cosine" if cosine else "euclidean")
        model.fit(data)
        return np.asarray(-model.negative_outlier_factor_, dtype=np.float64)
    if data.shape[1] > 32 and len(data) > 32:
        data = PCA(n_components=32, random_state=seed).fit_transform(data)
    forest = IsolationForest(random_state=seed, n_estimators=200).fit(data)
    return np.asarray(-forest.score_samples(data), dtype=np.float64)


def threshold_of(scores: np.ndarray, contamination: float | None = None) -> float:
    """The score above which an item is an outlier: a ``contamination`` quantile, or
    median + 3 x 1.4826 x MAD (a robust three-sigma rule)."""
    if contamination is not None:
        if not 0 < contamination < 0.5:
            raise InvalidInput(
                "contamination is the expected share of outliers, above 0 and below 0.5."
            )
        return float(np.quantile(scores, 1 - contamination))
    median = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - median)))
    return median + 3 * max(spread, 1e-9)


def outliers(
    snapshot: Snapshot,
    method: str = "knn",
    k: int = 10,
    contamination: float | None = None,
    seed: int = 0,
    metric: str = "cosine",
) -> list[OutlierScore]:
    """Every item with its score, most unusual first, flagged past the threshold."""
    scores = outlier_scores(snapshot.vectors, method, k, seed, metric)
    limit = threshold_of(scores, contamination)
    order = np.argsort(-scores, kind="stable")
    return [
        OutlierScore(snapshot.ids[i], round(float(scores[i]), 6), bool(scores[i] > limit))
        for i in order
    ]


@dataclass(frozen=True)
class SpaceOutliers:
    """The items of a space ranked by unusualness (``ranked``, most unusual first), with
    the snapshot they came from and the method that scored them."""

    snapshot: Snapshot
    ranked: list[OutlierScore]
    method: str

    @property
    def flagged(self) -> int:
        """How many items are past the threshold."""
        return sum(r.outlier for r in self.ranked)


def find_outliers(
    space: Space,
    method: str = "knn",
    k: int = 10,
    contamination: float | None = None,
    *,
    where: Mapping[str, Any] | None = None,
    on_progress: ProgressCallback | None = None,
) -> SpaceOutliers:
    """``outliers`` among the items of ``space`` (those matching ``where``), measured
    with the space's metric (cosine, else euclidean)."""
    snapshot = snapshot_matching(space, where)
    metric = "cosine" if space.stamp.metric == "cosine" else "euclidean"
    report(on_progress, f"Scoring {counted(len(snapshot), 'item')} ({method})", 0, None)
    ranked = outliers(snapshot, method, k, contamination, metric=metric)
    return SpaceOutliers(snapshot, ranked, method)
