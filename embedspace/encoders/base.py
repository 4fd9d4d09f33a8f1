"""The Encoder contract: items in, a float32 ``(n, dim)`` array out.

Subclasses implement one method, ``_encode_batch(batch, modality)``. The base class runs
one loop for every modality: it validates the items and tells their modalities apart,
checks that the encoder takes them and can run here (typed errors), groups the items by
modality, batches each group (texts ordered by length, so a batch holds texts of similar
length and less padding; images decoded by worker threads one batch ahead of the model),
reports progress through a callback, and checks what the subclass returned. Weights load
on first use, never in a constructor.

How ``encode`` tells modalities apart: a ``str`` is a text; a ``pathlib.Path`` or a PIL
image is an image. ``encode_images`` takes image files given as ``str`` paths too.
"""

from __future__ import annotations

import inspect
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedspace.errors import EmbedspaceError, InvalidInput, ModelNotAvailable
from embedspace.io.audio import Audio, is_audio_path
from embedspace.io.records import unicode_problem
from embedspace.progress import ProgressCallback, legacy_progress, report

METRICS = ("cosine", "dot", "euclidean")


def is_image(item: object) -> bool:
    """True for what ``encode`` takes as an image: a ``pathlib.Path`` (not an audio file)
    or a PIL image."""
    if isinstance(item, Path):
        return not is_audio_path(item)
    return hasattr(item, "convert") and hasattr(item, "size")


def is_audio(item: object) -> bool:
    """True for what ``encode`` takes as sound: a ``pathlib.Path`` of an audio file (.wav,
    .flac, .ogg, .opus, .mp3) or ``Audio`` (samples and their rate)."""
    return isinstance(item, Audio) or (isinstance(item, Path) and is_audio_path(item))


class Encoder(ABC):
    """Base class of every encoder.

    Attributes: ``name`` (stable id recorded in spaces), ``dim``, ``modalities``,
    ``metric`` it is meant for, ``normalized`` (outputs have unit length), ``source``
    (where the weights come from, for humans).
    """

    name: str
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    #: What a space of this encoder holds: "vectors", or also "fingerprints" (landmarks).
    kind: ClassVar[str] = "vectors"
    metric: str = "cosine"
    normalized: bool = True
    source: str = ""
    default_batch_size: int = 32
    image_min_side: int | None = None  # JPEGs may be decoded at a scale down to this side
    label_template: str = "{}"  # how zero-shot classification phrases a label
    #: The recipe of vectors this encoder wrote before it recorded recipes in spaces
    #: ("": none changed since, or its vectors never changed).
    unrecorded_recipe: str = ""
    #: Whether vectors of its other recipes can be compared with this one's (int8 and fp32
    #: recipes: yes, ~0.001 apart; another static table: no, a space of those is refused).
    recipes_comparable: bool = True
    _legacy_images: ClassVar[bool] = False  # images go to an older ``_encode_image_batch``

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Adapt subclasses written for the older hooks, ``_encode_batch(batch)`` (texts)
        and ``_encode_image_batch(batch)``, to the one ``_encode_batch(batch, modality)``;
        each older hook warns once, when its class is defined."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("_encode_batch")
        if own is not None and _takes_batch_only(own):
            warnings.warn(
                f"{cls.__qualname__}._encode_batch(batch) is deprecated: implement "
                "_encode_batch(batch, modality) instead.",
                DeprecationWarning,
                stacklevel=3,
            )
            cls._encode_batch = _texts_hook(cls, own)  # type: ignore[method-assign]
        if "_encode_image_batch" in cls.__dict__:
            warnings.warn(
                f"{cls.__qualname__}._encode_image_batch(batch) is deprecated: implement "
                "_encode_batch(batch, modality) and embed images when modality == 'image'.",
                DeprecationWarning,
                stacklevel=3,
            )
        cls._legacy_images = _images_use_older_hook(cls)

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

    @property
    def max_tokens(self) -> int | None:
        """Tokens the model reads of one text (the rest is cut), or ``None`` if unlimited:
        ``index`` splits longer documents into passages of this size."""
        return None

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, uncut (the tokenizer's count, special tokens included,
        where there is one; else whitespace-separated words)."""
        return [len(text.split()) for text in texts]

    def count_tokens(self, texts: Sequence[str]) -> int:
        """How many tokens the model reads for ``texts`` (what an embeddings API bills as
        ``usage``): the tokenizer's count where there is one, else whitespace-separated
        words."""
        return sum(len(text.split()) for text in texts)

    def recipe_note(self) -> str:
        """For people: which recipe runs on this machine and why, if already known without
        preparing anything (``""`` for encoders without recipes)."""
        return ""

    # ------------------------------------------------------------ availability
    def availability_error(self) -> EmbedspaceError | None:
        """The error embedding would raise on this machine, or ``None`` if it can run:
        ``MissingExtra`` (a package is missing; it names the ``pip install``) or
        ``ModelNotAvailable`` (weights or model files are missing). Subclasses override
        this; the default reads the older ``unavailable_reason`` hook if one overrides it."""
        if type(self).unavailable_reason is Encoder.unavailable_reason:
            return None
        reason = self.unavailable_reason()
        if reason is None:
            return None
        return ModelNotAvailable(f"Encoder '{self.name}' cannot run: {reason}")

    def unavailable_reason(self) -> str | None:
        """Why this encoder cannot run here (a missing package, say), or ``None`` if it can."""
        error = self.availability_error()
        return None if error is None else str(error)

    def check_available(self) -> None:
        """Raise ``MissingExtra`` or ``ModelNotAvailable`` if this encoder cannot run here."""
        error = self.availability_error()
        if error is not None:
            raise error

    # ------------------------------------------------------------- public API
    def encode(
        self,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed ``items``; returns float32, C-contiguous, shape ``(len(items), dim)``.

        A ``str`` is a text; a ``pathlib.Path`` or a PIL image is an image (give image
        files as ``str`` paths to ``encode_images``). Items may mix modalities the encoder
        takes; row ``i`` is always the vector of ``items[i]``.

        ``on_progress(stage, done, total)`` is called as batches finish (see
        ``embedspace.progress``); nothing is drawn. ``progress=True`` is deprecated: it
        prints plain progress lines on standard error.

        Raises ``InvalidInput`` for a bare string, an empty text, an item of no known
        modality or one this encoder does not take; ``MissingExtra`` or
        ``ModelNotAvailable`` when the encoder cannot run here.
        """
        if isinstance(items, str | bytes):
            raise InvalidInput("encode() takes a list of texts, not one string: pass [text].")
        if isinstance(items, Path):
            raise InvalidInput("encode() takes a list of items, not one path: pass [path].")
        listed = list(items)
        groups: dict[str, list[int]] = {}
        for position, item in enumerate(listed):
            groups.setdefault(self._modality(position, item), []).append(position)
        for modality in groups:
            self._check_takes(modality)
        callback = legacy_progress(on_progress, progress)
        return self._embed_groups(
            listed, groups, f"Embedding with {self.name}", batch_size, callback
        )

    def encode_query(
        self,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed search queries (asymmetric models override this; others embed as usual)."""
        return self.encode(items, batch_size=batch_size, on_progress=on_progress, progress=progress)

    def encode_document(
        self,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed documents to be searched (asymmetric models override this)."""
        return self.encode(items, batch_size=batch_size, on_progress=on_progress, progress=progress)

    def encode_images(
        self,
        images: Sequence[str | Path | Any],
        *,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed images (file paths as ``str`` or ``Path``, or PIL images); float32, shape
        ``(len(images), dim)``. The same loop as ``encode``, with every item an image.

        Files are decoded by worker threads while the previous batch runs through the model.
        Raises ``InvalidInput`` if this encoder takes no images or a file is not an image.
        """
        if isinstance(images, str | bytes | Path):
            raise InvalidInput("encode_images() takes a list of images: pass [path].")
        self._check_takes("image")
        listed = list(images)
        groups = {"image": list(range(len(listed)))} if listed else {}
        callback = legacy_progress(on_progress, progress)
        stage = f"Embedding images with {self.name}"
        return self._embed_groups(listed, groups, stage, batch_size, callback)

    # --------------------------------------------------------- the one loop
    def _embed_groups(
        self,
        items: list[Any],
        groups: dict[str, list[int]],
        stage: str,
        batch_size: int | None,
        on_progress: ProgressCallback | None,
    ) -> np.ndarray:
        """Embed each modality's positions of ``items`` in batches, into one array."""
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.check_available()
        size = batch_size or self.default_batch_size
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidInput(f"batch_size must be at least 1 (a whole number), not {size!r}.")
        out = np.empty((len(items), self.dim), dtype=np.float32)
        done = 0
        report(on_progress, stage, done, len(items))
        for modality, positions in groups.items():
            where = np.asarray(positions, dtype=np.int64)
            members = [items[i] for i in positions]
            for index, vectors in self._modality_batches(members, size, modality):
                out[where[index]] = self._checked(vectors, len(index))
                done += len(index)
                report(on_progress, stage, done, len(items))
        return out

    def _modality_batches(
        self, items: list[Any], size: int, modality: str
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions in items, vectors)`` per batch of one modality."""
        if modality == "text":
            yield from self._batches(items, size)
        elif modality == "image":
            yield from self._image_batches(items, size)
        else:
            for start in range(0, len(items), size):
                batch = items[start : start + size]
                yield np.arange(start, start + len(batch)), self._encode_batch(batch, modality)

    def _batches(self, texts: list[str], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, vectors)`` per batch of texts. Texts of similar length share
        a batch: less padding, ~2.5x faster on short texts. Subclasses may order by a better
        length (tokens) but must cover every position exactly once."""
        order = np.argsort(
            np.fromiter((len(t) for t in texts), np.int64, len(texts)), kind="stable"
        )
        for start in range(0, len(texts), size):
            index = order[start : start + size]
            yield index, self._encode_batch([texts[i] for i in index], "text")

    def _image_batches(
        self, images: list[Any], size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, vectors)`` per batch of images, in input order; the next
        batch is decoded and prepared by worker threads while this one runs."""
        from embedspace.encoders.image_input import prefetched_batches

        for start, batch in prefetched_batches(
            images, size, self._prepare_image, self.image_min_side
        ):
            yield np.arange(start, start + len(batch)), self._embed_prepared(batch, "image")

    def _embed_prepared(self, batch: list[Any], modality: str) -> np.ndarray:
        """One batch through this encoder's hook for ``modality`` (images through an older
        ``_encode_image_batch`` when the subclass still has one)."""
        if modality == "image" and self._legacy_images:
            return self._encode_image_batch(batch)
        return self._encode_batch(batch, modality)

    # ------------------------------------------------------ subclass hooks
    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        """Embed one batch of items of one ``modality``; return ``(len(batch), dim)``
        floats. Texts arrive as ``str``; images as what ``_prepare_image`` made of them.
        Only modalities in ``self.modalities`` arrive here. Every encoder overrides this."""
        raise InvalidInput(f"Encoder '{self.name}' does not embed {modality}.")

    def _prepare_image(self, image: Any) -> Any:
        """Turn one decoded RGB PIL image into what ``_encode_batch(batch, "image")``
        takes. Runs in worker threads, so it must not touch shared state."""
        return image

    def _encode_image_batch(self, batch: list[Any]) -> np.ndarray:
        """Deprecated: images now arrive at ``_encode_batch(batch, "image")``."""
        return self._encode_batch(batch, "image")

    def _modality_of(self, item: object) -> str | None:
        """The modality of one item (``None`` if it has none): a ``str`` is a text, a
        ``Path`` or a PIL image an image, an audio file's ``Path`` or ``Audio`` sound.
        Encoders of other kinds of item override this."""
        if isinstance(item, str):
            return "text"
        if is_audio(item):
            return "audio"
        return "image" if is_image(item) else None

    # ------------------------------------------------------------- checks
    def _modality(self, position: int, item: object) -> str:
        modality = self._modality_of(item)
        if modality is None:
            raise InvalidInput(
                f"Item {position} is {type(item).__name__}, but encoder '{self.name}' takes "
                f"{', '.join(sorted(self.modalities))}: give texts as str, images as "
                "pathlib.Path or PIL images, sounds as a pathlib.Path or embedspace.Audio."
            )
        if modality == "text" and not item.strip():  # type: ignore[attr-defined]
            raise InvalidInput(f"Item {position} is empty; remove empty texts first.")
        if modality == "text" and (problem := unicode_problem(item)):
            raise InvalidInput(f"Item {position} holds {problem}; decode it with errors='replace'.")
        return modality

    def _check_takes(self, modality: str) -> None:
        """Raise ``InvalidInput`` saying what to do when this encoder does not take
        ``modality``."""
        if modality in self.modalities:
            return
        takes = " and ".join(sorted(self.modalities))
        if "audio" in self.modalities:
            hint = "Search it with a sound (--audio), or use an encoder that embeds " + modality
            hint += " (a CLAP directory embeds text and audio)." if modality == "text" else "."
        elif modality == "text":
            hint = (
                "Search it with an image (--image), or use a text-and-image encoder "
                "(imagenet-bridge, an alignment model, or a CLIP directory)."
            )
        elif modality == "image":
            hint = (
                "Choose an image encoder (efficientnet-lite0, imagenet-bridge, an alignment "
                "model or a CLIP directory)."
            )
        else:
            hint = "Choose an audio encoder (landmarks, aisfx, or a CLAP directory)."
        named = {"image": "images"}.get(modality, modality)
        raise InvalidInput(f"Encoder '{self.name}' embeds {takes}, not {named}. {hint}")

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


def _takes_batch_only(method: Callable[..., Any]) -> bool:
    """True for an older ``_encode_batch(self, batch)``: no room for a modality."""
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return False
    return len(parameters) == 2


def _texts_hook(cls: type[Encoder], older: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``_encode_batch(batch, modality)`` around an older text-only ``_encode_batch(batch)``;
    other modalities go to the parent class's hook."""

    def _encode_batch(self: Encoder, batch: list[Any], modality: str = "text") -> np.ndarray:
        if modality == "text":
            return older(self, batch)
        parent: Any = super(cls, self)
        return parent._encode_batch(batch, modality)  # type: ignore[no-any-return]

    _encode_batch.__doc__ = older.__doc__
    _encode_batch.__qualname__ = older.__qualname__
    _encode_batch._texts_only = True  # type: ignore[attr-defined]
    return _encode_batch


def _images_use_older_hook(cls: type[Encoder]) -> bool:
    """Whether the most derived of the image hooks in ``cls``'s ancestry is the older
    ``_encode_image_batch`` (rather than an ``_encode_batch`` taking a modality)."""
    for klass in cls.__mro__:
        if klass is Encoder:
            return False
        if "_encode_image_batch" in klass.__dict__:
            return True
        hook = klass.__dict__.get("_encode_batch")
        if hook is not None and not getattr(hook, "_texts_only", False):
            return False
    return False
