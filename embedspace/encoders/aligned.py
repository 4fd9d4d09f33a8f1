"""Alignment models: a frozen image encoder and a frozen text encoder, each followed by a
small trained projection head, so that images and their captions land close together
(the LiT recipe; ``embedspace train align`` makes them).

A model is a folder holding ``align.json`` (which encoders, the head sizes) and
``heads.safetensors`` (the head weights and the feature standardisation). The heads run in
numpy, so using a trained model needs no torch.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError

CONFIG_FILE = "align.json"
WEIGHTS_FILE = "heads.safetensors"
FORMAT = "embedspace-align"
TOWERS = ("image", "text")


def is_alignment_directory(path: Path) -> bool:
    """True when ``path`` holds an alignment model."""
    return (path / CONFIG_FILE).is_file()


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (the trainer uses the same form, so both agree)."""
    return np.asarray(
        0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
        dtype=np.float32,
    )


def project(features: np.ndarray, weights: dict[str, np.ndarray], tower: str) -> np.ndarray:
    """Run one tower's head on frozen features; returns unit-length vectors."""
    x = (features - weights[f"{tower}.mean"]) / weights[f"{tower}.std"]
    x = gelu(x @ weights[f"{tower}.w1"].T + weights[f"{tower}.b1"])
    x = x @ weights[f"{tower}.w2"].T + weights[f"{tower}.b2"]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


class AlignedEncoder(Encoder):
    """Texts and images in one space learnt from the user's own captioned images."""

    modalities = frozenset({"text", "image"})
    metric = "cosine"
    normalized = True
    default_batch_size = 32

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.source = f"alignment model {path}"
        self._config: dict[str, Any] | None = None
        self._weights: dict[str, np.ndarray] | None = None
        self._towers: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        """The model's ``align.json``, checked."""
        if self._config is None:
            from embedspace.encoders.model_config import read_model_config

            self._config = read_model_config(self.path / CONFIG_FILE, FORMAT, "alignment model")
        return self._config

    @property
    def dim(self) -> int:
        """The shared space's size."""
        return int(self.config()["dim"])

    def availability_error(self) -> EmbedspaceError | None:
        """The first tower's error that cannot run here, or ``None``."""
        for tower in TOWERS:
            error = self.tower(tower).availability_error()
            if error is not None:
                return error
        return None

    def tower(self, kind: str) -> Encoder:
        """The frozen ``"image"`` or ``"text"`` encoder under the heads."""
        if kind not in self._towers:
            from embedspace.encoders.registry import get

            self._towers[kind] = get(self.config()[f"{kind}_encoder"])
        return self._towers[kind]

    def weights(self) -> dict[str, np.ndarray]:
        """Head weights, read on first use."""
        with self._lock:
            if self._weights is None:
                from safetensors.numpy import load_file

                file = self.path / WEIGHTS_FILE
                try:
                    self._weights = load_file(str(file))
                except (OSError, ValueError) as error:
                    raise EmbedspaceError(f"Cannot read {file}: {error}") from None
            return self._weights

    @property
    def image_min_side(self) -> int | None:  # type: ignore[override]
        """The image tower's: JPEGs are decoded at the scale it needs."""
        return self.tower("image").image_min_side

    def _prepare_image(self, image: Any) -> Any:
        return self.tower("image")._prepare_image(image)

    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        """The frozen tower of ``modality``, then its trained head."""
        tower = self.tower(modality)
        if modality == "image":
            features = tower._checked(tower._embed_prepared(batch, "image"), len(batch))
        else:
            features = tower.encode(batch, batch_size=len(batch))
        return project(features, self.weights(), modality)
