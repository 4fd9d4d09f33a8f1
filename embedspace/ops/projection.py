"""Project vectors to 2 or 3 dimensions for pictures (PCA)."""

from __future__ import annotations

import numpy as np

from embedspace.errors import InvalidInput


def pca(vectors: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Principal-component projection: ``(coordinates (n, dims), explained variance ratio)``.

    A thin SVD of the centred data (exact, and for the few hundred points a plot holds
    faster than setting up an estimator); deterministic signs (largest loading positive).
    """
    if dims not in (2, 3):
        raise InvalidInput(f"Project to 2 or 3 dimensions, not {dims}.")
    data = np.asarray(vectors, dtype=np.float64)
    if data.ndim != 2 or len(data) < 2:
        raise InvalidInput("Give at least two vectors to project.")
    centred = data - data.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:dims]
    signs = np.sign(components[np.arange(len(components)), np.argmax(np.abs(components), axis=1)])
    components *= signs[:, None]
    coordinates = centred @ components.T
    if coordinates.shape[1] < dims:  # fewer points than dimensions: pad with zeros
        coordinates = np.pad(coordinates, ((0, 0), (0, dims - coordinates.shape[1])))
    variance = singular**2
    ratio = variance[:dims] / variance.sum() if variance.sum() > 0 else np.zeros(dims)
    return coordinates.astype(np.float32), np.pad(ratio, (0, dims - len(ratio)))


METHODS = ("pca", "tsne", "umap")


def project(vectors: np.ndarray, dims: int = 2, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Coordinates ``(n, dims)`` by PCA, t-SNE (scikit-learn) or UMAP (umap-learn)."""
    if method not in METHODS:
        raise InvalidInput(f"Unknown projection '{method}'; choose one of: {', '.join(METHODS)}.")
    if method == "pca":
        return pca(vectors, dims)[0]
    data = np.asarray(vectors, dtype=np.float32)
    if len(data) < 5:
        raise InvalidInput(f"{method} needs at least 5 points; use pca.")
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            from embedspace.errors import MissingExtra

            raise MissingExtra("t-SNE maps", "words", "scikit-learn") from None
        perplexity = min(30.0, (len(data) - 1) / 3)
        model = TSNE(
            n_components=dims, perplexity=perplexity, metric="cosine", init="pca", random_state=seed
        )
        return np.asarray(model.fit_transform(data), dtype=np.float32)
    try:
        import umap
    except ImportError:
        from embedspace.errors import MissingExtra

        raise MissingExtra("UMAP maps", "plot", "umap-learn") from None
    reducer = umap.UMAP(
        n_components=dims,
        metric="cosine",
        random_state=seed,
        n_neighbors=min(15, len(data) - 1),
        n_jobs=1,
    )
    return np.asarray(reducer.fit_transform(data), dtype=np.float32)
