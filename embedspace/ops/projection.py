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
