"""Fashion-MNIST from Debian's dataset-fashion-mnist package (no download); the reading
lives in examples/make_training_data.py, which writes the same data as image folders."""

from __future__ import annotations

import numpy as np

from examples.make_training_data import CLASSES
from examples.make_training_data import FASHION as FOLDER
from examples.make_training_data import fashion as load
from examples.make_training_data import fashion_sample as sample

__all__ = ["CLASSES", "FOLDER", "as_pil", "load", "sample"]


def as_pil(images: np.ndarray) -> list:
    """Grayscale arrays as RGB PIL images (what photos look like to the encoders)."""
    from PIL import Image

    return [Image.fromarray(image, "L").convert("RGB") for image in images]
