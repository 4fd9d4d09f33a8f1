"""Find encoders by name, alias or path.

Built-ins and third-party plugins are listed the same way: a name mapped to a zero-argument
factory (``"module:callable"``). Plugins declare theirs in the entry-point group
``embedspace.encoders``. Looking encoders up imports no model code and touches no weights.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, UnknownEncoder, did_you_mean

ENTRY_POINT_GROUP = "embedspace.encoders"
DEFAULT_ENCODER = "minilm-l6"


@dataclass(frozen=True)
class EncoderEntry:
    """A registered encoder: its name, aliases and how to construct it."""

    name: str
    factory: str | Callable[[], Encoder]
    aliases: tuple[str, ...] = ()
    origin: str = "built in"
    extra: dict[str, str] = field(default_factory=dict)

    def create(self) -> Encoder:
        """Construct the encoder (cheap: weights load on first use)."""
        factory = self.factory
        if isinstance(factory, str):
            module, _, attribute = factory.partition(":")
            factory = getattr(importlib.import_module(module), attribute)
        encoder = factory()
        if not isinstance(encoder, Encoder):
            raise EmbedspaceError(
                f"Encoder plugin '{self.name}' ({self.origin}) returned "
                f"{type(encoder).__name__}, not an embedspace Encoder."
            )
        return encoder


_BUILTINS = (
    EncoderEntry(
        "minilm-l6",
        "embedspace.encoders.minilm:minilm_l6",
        aliases=("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"),
    ),
    EncoderEntry("minilm-l6-fp32", "embedspace.encoders.minilm:minilm_l6_fp32"),
    EncoderEntry("hashing", "embedspace.encoders.hashing:HashingEncoder"),
    EncoderEntry("efficientnet-lite0", "embedspace.encoders.efficientnet:EfficientNetLite0"),
    EncoderEntry(
        "imagenet-bridge",
        "embedspace.encoders.imagenet_bridge:ImagenetBridge",
        aliases=("conse", "label-bridge"),
    ),
    EncoderEntry(
        "glove-50",
        "embedspace.encoders.word_vectors:glove_50",
        aliases=("glove-6b-50d", "glove"),
    ),
)
_registered: dict[str, EncoderEntry] = {}


def register(name: str, factory: Callable[[], Encoder], *, aliases: tuple[str, ...] = ()) -> None:
    """Register an encoder factory under ``name`` for this process (tests, notebooks)."""
    _registered[name.lower()] = EncoderEntry(name, factory, aliases, origin="registered")


def unregister(name: str) -> None:
    """Remove an encoder registered with ``register``; unknown names are ignored."""
    _registered.pop(name.lower(), None)


def entries() -> list[EncoderEntry]:
    """All known encoders: built-ins, then plugins, then ones registered in this process."""
    found: dict[str, EncoderEntry] = {e.name.lower(): e for e in _BUILTINS}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"plugin {point.dist.name if point.dist else point.value}"
        found.setdefault(point.name.lower(), EncoderEntry(point.name, point.value, origin=origin))
    found.update(_registered)
    return list(found.values())


def looks_like_path(name: str) -> bool:
    """True for anything with a path separator or starting with ``.`` or ``~``."""
    return os.sep in name or "/" in name or name.startswith((".", "~"))


def get(name: str | Encoder | None = None) -> Encoder:
    """Return the encoder called ``name`` (or an alias), or load a model directory path.

    ``None`` means the default, ``minilm-l6``. An Encoder instance is returned as is.
    Raises ``UnknownEncoder`` with the closest name and where to see the list.
    """
    if isinstance(name, Encoder):
        return name
    wanted = (name or DEFAULT_ENCODER).strip()
    # Built-in and registered names first: scanning installed packages for plugins costs
    # ~30 ms of a CLI search, and a plugin cannot take a built-in's name anyway.
    for entry in (*_registered.values(), *_BUILTINS):
        if wanted.lower() in (entry.name.lower(), *entry.aliases):
            return entry.create()
    known = entries()
    for entry in known:
        if wanted.lower() in (entry.name.lower(), *entry.aliases):
            return entry.create()
    if wanted.startswith("hf:") and len(wanted) > 3:
        from embedspace.encoders.clip import ClipEncoder

        return ClipEncoder(wanted)  # the user asked for the hub, by name
    if looks_like_path(wanted):
        base, _, tower = wanted.rpartition("#")
        if base and tower in ("user", "item"):  # one tower of a two-tower model
            from embedspace.encoders.two_tower import TwoTowerEncoder

            return TwoTowerEncoder(Path(base).expanduser(), tower)
        return from_directory(Path(wanted).expanduser())
    names = [e.name for e in known]
    raise UnknownEncoder(
        f"Unknown encoder '{wanted}'.{did_you_mean(wanted, names)} Choose one of: "
        f"{', '.join(names)}, or give the path of a model directory (or hf:ID for a CLIP "
        "model from the Hugging Face hub). See 'embedspace encoders'."
    )


def from_directory(path: Path) -> Encoder:  # noqa: C901 - one branch per model kind
    """An encoder for a model directory: ONNX (``model.onnx`` or ``onnx/model.onnx`` with
    ``tokenizer.json``) runs on onnxruntime; a transformers CLIP folder, an alignment model
    (``embedspace train align``) or a sentence-transformers directory on torch."""
    from embedspace.encoders.word_vectors import from_path, is_word_vector_path

    if is_word_vector_path(path):
        return from_path(path.resolve())
    if not path.is_dir():
        raise UnknownEncoder(
            f"No model directory at {path}. Give a folder holding a sentence-transformers "
            "model or model.onnx + tokenizer.json, a word-vector file (.bin, .vec, .txt), "
            "or a name from 'embedspace encoders'."
        )
    resolved = path.resolve()
    if (resolved / "model.onnx").exists() or (resolved / "onnx" / "model.onnx").exists():
        from embedspace.encoders.onnx_text import onnx_directory

        return onnx_directory(resolved)
    from embedspace.encoders.aligned import AlignedEncoder, is_alignment_directory
    from embedspace.encoders.clip import ClipEncoder, is_clip_directory
    from embedspace.encoders.two_tower import TwoTowerEncoder, is_two_tower_directory

    if is_clip_directory(resolved):
        return ClipEncoder(resolved)
    if is_two_tower_directory(resolved):
        return TwoTowerEncoder(resolved, "item")
    if is_alignment_directory(resolved):
        return AlignedEncoder(resolved)
    if (resolved / "modules.json").exists() or (resolved / "config.json").exists():
        from embedspace.encoders.sentence_transformers import SentenceTransformerEncoder

        return SentenceTransformerEncoder(resolved)
    raise UnknownEncoder(
        f"{path} holds no model: expected model.onnx + tokenizer.json, or a "
        "sentence-transformers directory (modules.json, config.json, weights)."
    )
