"""The base of encoders that hear: sound files (or ``Audio``) decoded to mono at the
model's rate, then embedded in batches; texts too, for encoders that embed both."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.base import Encoder
from embedspace.io.audio import load_audio


class SoundEncoder(Encoder):
    """An encoder of sounds (and, if ``"text"`` is in its modalities, of texts).

    Subclasses set ``sample_rate`` and implement ``_embed_sounds`` (and ``_embed_texts``);
    files are decoded by worker threads (libsndfile and soxr release the GIL)."""

    modalities: ClassVar[frozenset[str]] = frozenset({"audio"})
    sample_rate: ClassVar[int] = 16000
    default_batch_size = 8
    #: The longest sound decoded (a longer one is refused before it fills memory: a model
    #: reads the whole sound at its rate, 48 kHz for CLAP; 20 minutes are 230 MB).
    max_seconds: ClassVar[float] = 1200.0

    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        if modality == "audio":
            return self._embed_sounds(self.decode(batch))
        if modality == "text" and "text" in self.modalities:
            return self._embed_texts(batch)
        return super()._encode_batch(batch, modality)

    def decode(self, batch: list[Any]) -> list[np.ndarray]:
        """Each item (a file ``Path``, its bytes, or ``Audio``) as mono float32 samples at
        ``sample_rate``; ``InvalidInput`` naming a file that cannot be decoded."""
        if len(batch) == 1:
            return [load_audio(batch[0], self.sample_rate, max_seconds=self.max_seconds)]
        with ThreadPoolExecutor(max_workers=max(1, min(cpu_count(), len(batch)))) as pool:
            return list(
                pool.map(
                    lambda item: load_audio(item, self.sample_rate, max_seconds=self.max_seconds),
                    batch,
                )
            )

    def _embed_sounds(self, sounds: list[np.ndarray]) -> np.ndarray:
        """Embed mono float32 sounds at ``sample_rate``; ``(len(sounds), dim)``."""
        raise NotImplementedError

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embed texts into the sounds' space (text-and-audio encoders override this)."""
        raise NotImplementedError
