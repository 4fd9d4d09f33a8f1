"""sentence-transformers model directories, run by PyTorch on the CPU (extra ``torch``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, MissingExtra


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers directory (``modules.json`` + weights) given as a path.

    The vector size is read from the directory's config files; weights load on first use,
    always on the CPU (this project makes no claim about GPUs it cannot test).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.source = f"sentence-transformers directory {path}"
        self._model: Any = None
        self._dim: int | None = None
        modules = _read(path / "modules.json")
        names = [m.get("type", "") for m in modules] if isinstance(modules, list) else []
        self.normalized = any(n.endswith("Normalize") for n in names)

    @property
    def dim(self) -> int:
        """Length of each vector, from the last layer's config (Dense or Pooling)."""
        if self._dim is None:
            self._dim = _declared_dim(self.path)
        return self._dim

    def availability_error(self) -> EmbedspaceError | None:
        """``MissingExtra`` when sentence-transformers is not installed, else ``None``."""
        if importlib.util.find_spec("sentence_transformers") is None:
            return MissingExtra(
                "Running a sentence-transformers directory", "torch", "sentence-transformers"
            )
        return None

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise MissingExtra(
                    "Running a sentence-transformers directory", "torch", "sentence-transformers"
                ) from None
            self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        vectors = self._model.encode(batch, batch_size=len(batch), convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


def _declared_dim(path: Path) -> int:
    for dense in sorted(path.glob("*_Dense/config.json"), reverse=True):
        out = _read(dense).get("out_features")
        if out:
            return int(out)
    pooling = _read(path / "1_Pooling" / "config.json").get("word_embedding_dimension")
    hidden = _read(path / "config.json").get("hidden_size")
    if pooling or hidden:
        return int(pooling or hidden)
    raise EmbedspaceError(f"Cannot tell the vector size of {path}: it has no config.json.")


def _read(path: Path) -> Any:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EmbedspaceError(f"Cannot read {path}: {error}") from None
