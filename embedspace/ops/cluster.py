"""Clusters: k-means for a chosen number of groups, HDBSCAN (density, finds the number
itself and leaves outliers unassigned) for ``auto``; each cluster described by its size,
the items nearest its centre, and keywords that set its texts apart (c-TF-IDF, as in
BERTopic: term frequency within the cluster, weighted by how rare the term is across
clusters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from embedspace.encoders import Encoder
from embedspace.errors import EncoderMismatch, InvalidInput, MissingExtra
from embedspace.ops.items import snapshot_matching
from embedspace.ops.neighbours import unit
from embedspace.ops.stages import counted
from embedspace.progress import ProgressCallback, report
from embedspace.store.items import Snapshot

if TYPE_CHECKING:
    from embedspace.store import Space

NOISE = -1


@dataclass(frozen=True)
class ClusterInfo:
    """One cluster: its label, size, the ids nearest its centre and its keywords."""

    label: int
    size: int
    central: list[str]
    keywords: list[str]


@dataclass(frozen=True)
class Clustering:
    """A label per item (``-1`` = in no cluster, HDBSCAN only) and each cluster's summary."""

    ids: list[str]
    labels: np.ndarray
    clusters: list[ClusterInfo]


def _sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise MissingExtra("Clustering", "words", "scikit-learn") from None


def kmeans_labels(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means on unit vectors (spherical k-means, the right geometry for cosine);
    mini-batch above 20,000 vectors."""
    _sklearn()
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if not 2 <= k <= len(vectors):
        raise InvalidInput(
            f"k must be between 2 and the number of items ({len(vectors)}), not {k}."
        )
    data = unit(vectors)
    if len(data) > 20_000:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init="auto")
    return np.asarray(model.fit_predict(data), dtype=np.int64)


def density_labels(
    vectors: np.ndarray, min_cluster_size: int | None = None, seed: int = 0
) -> np.ndarray:
    """HDBSCAN on the vectors reduced to 32 dimensions by PCA (density estimates need few
    dimensions); ``-1`` marks items in no cluster."""
    _sklearn()
    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA

    data = unit(vectors)
    if len(data) < 3:
        raise InvalidInput("Need at least 3 items to find clusters.")
    size = min_cluster_size or max(5, len(data) // 100)
    if data.shape[1] > 32 and len(data) > 32:
        data = PCA(n_components=32, random_state=seed).fit_transform(data)
    model = HDBSCAN(min_cluster_size=min(size, len(data)), min_samples=min(size, 10), copy=True)
    return np.asarray(model.fit_predict(data), dtype=np.int64)


def keywords(
    texts: Sequence[str],
    labels: np.ndarray,
    top: int = 5,
    *,
    encoder: Encoder | None = None,
    vectors: np.ndarray | None = None,
) -> dict[int, list[str]]:
    """c-TF-IDF keywords per cluster label (noise excluded). With an ``encoder`` and the
    items' ``vectors``, the 20 best c-TF-IDF terms are re-ranked by how close each word's
    embedding is to the cluster's centre (as KeyBERT does), which matters for small clusters
    where most terms occur once and c-TF-IDF alone cannot tell them apart."""
    _sklearn()
    from sklearn.feature_extraction.text import CountVectorizer

    clusters = sorted(int(label) for label in set(labels.tolist()) if label != NOISE)
    documents = [
        " ".join(t for t, label in zip(texts, labels, strict=True) if label == c) for c in clusters
    ]
    if not any(d.strip() for d in documents):
        return {c: [] for c in clusters}
    try:
        counter = CountVectorizer(
            stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", max_features=50_000
        )
        counts = counter.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words
        return {c: [] for c in clusters}
    frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    average = counts.sum() / len(clusters)
    idf = np.log(1 + average / np.maximum(counts.sum(axis=0), 1))
    weights = frequency * idf
    terms = np.asarray(counter.get_feature_names_out())
    found: dict[int, list[str]] = {}
    for row, label in enumerate(clusters):
        order = [i for i in np.argsort(-weights[row], kind="stable")[:20] if weights[row, i] > 0]
        candidates = [str(terms[i]) for i in order]
        if encoder is not None and vectors is not None and candidates:
            centre = unit(vectors[labels == label]).mean(axis=0)
            closeness = unit(encoder.encode(candidates)) @ centre
            score = closeness + 0.5 * weights[row, order] / weights[row, order].max()
            candidates = [candidates[i] for i in np.argsort(-score, kind="stable")]
        found[label] = candidates[:top]
    return found


def cluster(
    snapshot: Snapshot,
    k: int | None = None,
    *,
    auto: bool = False,
    min_cluster_size: int | None = None,
    central: int = 3,
    seed: int = 0,
    encoder: Encoder | None = None,
) -> Clustering:
    """Cluster a space's items: ``k`` groups with k-means, or ``auto`` with HDBSCAN.
    ``encoder`` (the space's, when it embeds text) sharpens the keywords."""
    if (k is None) == (not auto):
        raise InvalidInput("Give a number of clusters (k), or ask for auto (density) clustering.")
    if len(snapshot) == 0:
        raise InvalidInput("The space is empty; there is nothing to cluster.")
    labels = (
        density_labels(snapshot.vectors, min_cluster_size, seed)
        if auto
        else kmeans_labels(snapshot.vectors, int(k or 0), seed)
    )
    texts = [] if _are_paths(snapshot.contents) else snapshot.contents
    words = keywords(texts, labels, encoder=encoder, vectors=snapshot.vectors) if texts else {}
    data = unit(snapshot.vectors)
    infos = []
    for label in sorted(set(labels.tolist()) - {NOISE}):
        members = np.flatnonzero(labels == label)
        centre = data[members].mean(axis=0)
        nearest = members[np.argsort(-(data[members] @ centre), kind="stable")[:central]]
        infos.append(
            ClusterInfo(
                int(label),
                len(members),
                [snapshot.ids[i] for i in nearest],
                words.get(int(label), []),
            )
        )
    infos.sort(key=lambda c: (-c.size, c.label))
    return Clustering(snapshot.ids, labels, infos)


def _are_paths(contents: Sequence[str]) -> bool:
    """Image spaces store file paths as content: no keywords for those."""
    sample = contents[:20]
    return bool(sample) and all(os.path.isabs(c) and os.path.exists(c) for c in sample)


@dataclass(frozen=True)
class SpaceClusters:
    """The clusters of a space's items, with the snapshot they were found in; ``written``
    names the metadata field that now holds each item's cluster, if any."""

    snapshot: Snapshot
    clustering: Clustering
    written: str | None = None

    @property
    def unclustered(self) -> int:
        """How many items are in no cluster (density clustering only)."""
        return int(np.sum(self.clustering.labels == NOISE))


def cluster_space(
    space: Space,
    k: int | None = None,
    *,
    auto: bool = False,
    min_cluster_size: int | None = None,
    seed: int = 0,
    where: Mapping[str, Any] | None = None,
    write_field: str | None = None,
    overwrite: bool = False,
    on_progress: ProgressCallback | None = None,
) -> SpaceClusters:
    """``cluster`` the items of ``space`` (those matching ``where``), with the space's
    encoder for keywords when it embeds text; with ``write_field``, store each item's
    cluster in that metadata field. A field some item has already (a ``topic``, or
    clusters written before) is refused unless ``overwrite``, before any work."""
    snapshot = snapshot_matching(space, where)
    if write_field and not overwrite:
        _check_free(snapshot, write_field)
    words = space.encoder if "text" in space.encoder.modalities else None
    if words is not None:
        try:
            space.check_queries()
        except EncoderMismatch:  # another table made the vectors: keywords without it
            words = None
    report(on_progress, f"Clustering {counted(len(snapshot), 'item')}", 0, None)
    result = cluster(
        snapshot, k, auto=auto, min_cluster_size=min_cluster_size, seed=seed, encoder=words
    )
    if write_field:
        labels = zip(result.ids, result.labels, strict=True)
        space.update_metadata({i: {write_field: int(label)} for i, label in labels})
    return SpaceClusters(snapshot, result, write_field)


def _check_free(snapshot: Snapshot, field: str) -> None:
    """``InvalidInput`` if ``field`` is internal (``_document``...) or an item has it
    already: writing clusters there would replace what it holds (a topic, a year, or
    clusters written before: ``overwrite`` says that is meant)."""
    if field.startswith("_"):
        raise InvalidInput(
            f"'{field}' is an internal field (names starting with _ are embedspace's); "
            "write the clusters to another field, e.g. --write cluster."
        )
    taken = [
        (item_id, metadata[field])
        for item_id, metadata in zip(snapshot.ids, snapshot.metadata, strict=True)
        if field in metadata
    ]
    if taken:
        item_id, value = taken[0]
        shown = json.dumps(value, ensure_ascii=False, default=str)
        raise InvalidInput(
            f"{counted(len(taken), 'item')} already have a metadata field '{field}' (item "
            f"'{item_id}': {shown}); writing clusters there would replace it. Add "
            f"--overwrite (overwrite=True) to replace it, or write to a new field."
        )
