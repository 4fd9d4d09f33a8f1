"""Fashion-MNIST from Debian's dataset-fashion-mnist package (no download)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

FOLDER = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 28, 28), labels int (n,))`` of ``"train"`` or ``"t10k"``."""
    images_file = FOLDER / f"{split}-images-idx3-ubyte.gz"
    if not images_file.exists():
        raise SystemExit(
            f"{images_file} is missing: install Debian's dataset-fashion-mnist "
            "(sudo apt-get install dataset-fashion-mnist)."
        )
    with gzip.open(images_file) as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FOLDER / f"{split}-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def sample(split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset (all of it when ``count`` is at least the split's size)."""
    images, labels = load(split)
    if count >= len(labels):
        return images, labels
    pick = np.random.default_rng(seed).choice(len(labels), count, replace=False)
    return images[pick], labels[pick]


def as_pil(images: np.ndarray) -> list:
    """Grayscale arrays as RGB PIL images (what photos look like to the encoders)."""
    from PIL import Image

    return [Image.fromarray(image, "L").convert("RGB") for image in images]
