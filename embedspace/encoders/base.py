"""The Encoder contract: items in, a float32 ``(n, dim)`` array out.

Subclasses implement one method, ``_encode_batch``. The base class validates input, orders
items so that a batch holds items of similar length (less padding), batches, shows
progress, and checks what the subclass returned. Weights load on first use, never in a
constructor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedspace.errors import EmbedspaceError, InvalidInput

METRICS = ("cosine", "dot", "euclidean")


class Encoder(ABC):
    """Base class of every encoder.

    Attributes: ``name`` (stable id recorded in spaces), ``dim``, ``modalities``,
    ``metric`` it is meant for, ``normalized`` (outputs have unit length), ``source``
    (where the weights come from, for humans).
    """

    name: str
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    metric: str = "cosine"
    normalized: bool = True
    source: str = ""
    default_batch_size: int = 32
    image_min_side: int | None = None  # JPEGs may be decoded at a scale down to this side
    label_template: str = "{}"  # how zero-shot classification phrases a label

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of each output vector."""

    def runtime_recipe(self) -> str:
        """How the weights run when that changes the vectors slightly (a quantization
        recipe such as ``int8-u8``), else ``""``. Spaces record it next to the encoder name."""
        return ""

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` are longer than the model reads (they are cut to fit when
        embedded); 0 for encoders without a length limit."""
        return 0

    def recipe_note(self) -> str:
        """For people: which recipe runs on this machine and why, if already known without
        preparing anything (``""`` for encoders without recipes)."""
        return ""

    def unavailable_reason(self) -> str | None:
        """Why this encoder cannot run here (a missing package, say), or ``None`` if it can."""
        return None

    def encode(
        self, items: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed ``items``; returns float32, C-contiguous, shape ``(len(items), dim)``.

        Raises ``InvalidInput`` for a bare string, a non-string item or an empty item.
        With ``progress=True`` a progress bar is drawn on standard error.
        """
        texts = self._validate(items)
        if "text" not in self.modalities:
            raise InvalidInput(
                f"Encoder '{self.name}' embeds {', '.join(sorted(self.modalities))}, not text. "
                "Search it with an image (--image), or use a text-and-image encoder "
                "(imagenet-bridge, an alignment model, or a CLIP directory)."
            )
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        reason = self.unavailable_reason()
        if reason is not None:
            raise EmbedspaceError(f"Encoder '{self.name}' cannot run: {reason}")
        size = batch_size or self.default_batch_size
        if size < 1:
            raise InvalidInput(f"batch_size must be at least 1, not {size}.")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with _Progress(len(texts), f"Embedding with {self.name}", enabled=progress) as bar:
            for index, vectors in self._batches(texts, size):
                out[index] = self._checked(vectors, len(index))
                bar.advance(len(index))
        return out

    def _batches(self, texts: list[str], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, vectors)`` per batch. Items of similar length share a batch:
        less padding, ~2.5x faster on short texts. Subclasses may order by a better length
        (tokens) but must cover every position exactly once."""
        order = np.argsort(
            np.fromiter((len(t) for t in texts), np.int64, len(texts)), kind="stable"
        )
        for start in range(0, len(texts), size):
            index = order[start : start + size]
            yield index, self._encode_batch([texts[i] for i in index])

    def encode_query(
        self, items: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed search queries (asymmetric models override this; others embed as usual)."""
        return self.encode(items, batch_size=batch_size, progress=progress)

    def encode_document(
        self, items: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed documents to be searched (asymmetric models override this)."""
        return self.encode(items, batch_size=batch_size, progress=progress)

    def encode_images(
        self,
        images: Sequence[str | Path | Any],
        *,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed images (file paths or PIL images); float32, shape ``(len(images), dim)``.

        Files are decoded by worker threads while the previous batch runs through the model.
        Raises ``InvalidInput`` if this encoder takes no images or a file is not an image.
        """
        if "image" not in self.modalities:
            raise InvalidInput(
                f"Encoder '{self.name}' embeds text, not images. Choose an image encoder "
                "(efficientnet-lite0, imagenet-bridge, an alignment model or a CLIP directory)."
            )
        if isinstance(images, str | bytes | Path):
            raise InvalidInput("encode_images() takes a list of images: pass [path].")
        from embedspace.encoders.image_input import prefetched_batches

        items = list(images)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        reason = self.unavailable_reason()
        if reason is not None:
            raise EmbedspaceError(f"Encoder '{self.name}' cannot run: {reason}")
        size = batch_size or self.default_batch_size
        if size < 1:
            raise InvalidInput(f"batch_size must be at least 1, not {size}.")
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with _Progress(len(items), f"Embedding images with {self.name}", enabled=progress) as bar:
            for start, batch in prefetched_batches(
                items, size, self._prepare_image, self.image_min_side
            ):
                out[start : start + len(batch)] = self._checked(
                    self._encode_image_batch(batch), len(batch)
                )
                bar.advance(len(batch))
        return out

    def _prepare_image(self, image: Any) -> Any:
        """Turn one decoded RGB PIL image into what ``_encode_image_batch`` takes. Runs in
        worker threads, so it must not touch shared state."""
        return image

    def _encode_image_batch(self, batch: list[Any]) -> np.ndarray:
        """Embed one batch of prepared images (image encoders override this)."""
        raise InvalidInput(f"Encoder '{self.name}' does not embed images.")

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        """Embed one batch of texts; return ``(len(batch), dim)`` floats (text encoders
        override this)."""
        raise InvalidInput(f"Encoder '{self.name}' does not embed text.")

    def _validate(self, items: Sequence[str]) -> list[str]:
        if isinstance(items, str | bytes):
            raise InvalidInput("encode() takes a list of texts, not one string: pass [text].")
        texts = list(items)
        for position, item in enumerate(texts):
            if not isinstance(item, str):
                raise InvalidInput(
                    f"Item {position} is {type(item).__name__}, but encoder '{self.name}' "
                    f"takes text ({', '.join(sorted(self.modalities))})."
                )
            if not item.strip():
                raise InvalidInput(f"Item {position} is empty; remove empty texts first.")
        return texts

    def _checked(self, vectors: Any, count: int) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.shape != (count, self.dim):
            raise EmbedspaceError(
                f"Encoder '{self.name}' returned shape {array.shape}, expected "
                f"({count}, {self.dim}); the model does not match its declared dimension."
            )
        return array

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class _Progress:
    """A rich progress bar on stderr, or nothing when disabled."""

    def __init__(self, total: int, label: str, *, enabled: bool) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
