"""Image encoders trained on the user's own labelled images (``embedspace train
image-encoder``): EfficientNet-Lite0 (its last blocks optionally fine-tuned) and a
projection head trained with a metric-learning loss.

A model folder holds ``image_encoder.json`` (what it was trained from and how) and
``image_encoder.onnx``, the whole network from pixels to unit-length vectors, exported once
at training time: using it needs onnxruntime and Pillow, not torch. Images are prepared
exactly as for ``efficientnet-lite0``.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.base import Encoder
from embedspace.encoders.efficientnet import IMAGE_SIZE, pixels
from embedspace.encoders.model_config import model_tag, read_model_config
from embedspace.errors import EmbedspaceError, MissingExtra, ModelNotAvailable

CONFIG_FILE = "image_encoder.json"
MODEL_FILE = "image_encoder.onnx"
FORMAT = "embedspace-image-encoder"
INPUT, OUTPUT = "pixels", "embedding"


def is_image_encoder_directory(path: Path) -> bool:
    """True when ``path`` holds a trained image encoder."""
    return (path / CONFIG_FILE).is_file()


class TrainedImageEncoder(Encoder):
    """A trained image encoder from its folder: unit vectors compared by cosine."""

    modalities = frozenset({"image"})
    metric = "cosine"
    normalized = True
    default_batch_size = 32
    image_min_side = IMAGE_SIZE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.source = f"image encoder trained from efficientnet-lite0 ({path}), ONNX"
        self._config: dict[str, Any] | None = None
        self._session: Any = None
        self._lock = threading.Lock()

    def config(self) -> dict[str, Any]:
        """The folder's ``image_encoder.json``, checked."""
        if self._config is None:
            self._config = read_model_config(self.path / CONFIG_FILE, FORMAT, "image encoder")
        return self._config

    @property
    def dim(self) -> int:
        """The trained head's output size."""
        return int(self.config()["dim"])

    def runtime_recipe(self) -> str:
        """``model`` and the start of the training id: spaces record it, so a folder
        trained again at the same path is noticed."""
        return model_tag(self.config())

    def availability_error(self) -> EmbedspaceError | None:
        """``ModelNotAvailable`` when the ONNX file is missing, ``MissingExtra`` without
        Pillow or onnxruntime."""
        if not (self.path / MODEL_FILE).is_file():
            return ModelNotAvailable(
                f"{self.path} has no {MODEL_FILE}; train it again with "
                "'embedspace train image-encoder'."
            )
        for module, package in (("PIL", "pillow"), ("onnxruntime", "onnxruntime")):
            if importlib.util.find_spec(module) is None:
                return MissingExtra(f"Encoder '{self.name}'", "images", package)
        return None

    def _prepare_image(self, image: Any) -> np.ndarray:
        return pixels(image)

    def _encode_batch(self, batch: list[Any], modality: str = "image") -> np.ndarray:
        """Unit vectors of a batch of prepared pixel arrays."""
        (vectors,) = self.session().run([OUTPUT], {INPUT: np.stack(batch)})
        return np.asarray(vectors, dtype=np.float32)

    def session(self) -> Any:
        """The onnxruntime session, created on first use."""
        with self._lock:
            if self._session is None:
                import onnxruntime

                error = self.availability_error()
                if error is not None:
                    raise error
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = cpu_count()
                self._session = onnxruntime.InferenceSession(
                    str(self.path / MODEL_FILE), options, providers=["CPUExecutionProvider"]
                )
            return self._session
