"""Find encoders by name, alias or path.

Built-ins and third-party plugins are listed the same way: a name mapped to a zero-argument
factory (``"module:callable"``). Plugins declare theirs in the entry-point group
``embedspace.encoders``. Models named by path or id are recognised the same way:
``MODEL_FORMATS`` lists each kind with a probe and a factory, both ``"module:callable"``.
Looking encoders up imports no model code and touches no weights.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        encoder = _resolve(self.factory)()
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
    EncoderEntry("minilm-static", "embedspace.encoders.static:MiniLMStatic", aliases=("static",)),
    EncoderEntry(
        "multilingual-e5-small",
        "embedspace.encoders.e5:MultilingualE5Small",
        aliases=("e5-small", "intfloat/multilingual-e5-small"),
    ),
    EncoderEntry(
        "mpnet-base",
        "embedspace.encoders.mpnet:mpnet_base",
        aliases=("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"),
    ),
    EncoderEntry("hashing", "embedspace.encoders.hashing:HashingEncoder"),
    EncoderEntry("efficientnet-lite0", "embedspace.encoders.efficientnet:EfficientNetLite0"),
    EncoderEntry(
        "imagenet-bridge",
        "embedspace.encoders.imagenet_bridge:ImagenetBridge",
        aliases=("conse", "label-bridge"),
    ),
    EncoderEntry(
        "landmarks",
        "embedspace.encoders.landmarks:LandmarkFingerprinter",
        aliases=("fingerprints", "wang-landmarks"),
    ),
    EncoderEntry("aisfx", "embedspace.encoders.aisfx:Aisfx", aliases=("sound-types",)),
    EncoderEntry(
        "glove-50",
        "embedspace.encoders.word_vectors:glove_50",
        aliases=("glove-6b-50d", "glove"),
    ),
)


def _resolve(reference: str | Callable[..., Any]) -> Callable[..., Any]:
    """The callable a ``"module:callable"`` string names (imported now), or itself."""
    if not isinstance(reference, str):
        return reference
    module, _, attribute = reference.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return found


@dataclass(frozen=True)
class ModelFormat:
    """A kind of model named by path or id: ``probe(target) -> bool`` recognises one,
    ``factory(target) -> Encoder`` loads it (both ``"module:callable"`` or callables,
    given the name as the user wrote it). ``paths``: probed only for names that look like
    paths (``hf:ID`` is not one)."""

    kind: str
    probe: str | Callable[[str], bool]
    factory: str | Callable[[str], Encoder]
    paths: bool = True

    def matches(self, target: str) -> bool:
        """Whether ``target`` is a model of this kind."""
        return bool(_resolve(self.probe)(target))

    def create(self, target: str) -> Encoder:
        """The encoder for ``target`` (cheap: weights load on first use)."""
        encoder = _resolve(self.factory)(target)
        if not isinstance(encoder, Encoder):
            raise EmbedspaceError(
                f"The model format '{self.kind}' returned {type(encoder).__name__} for "
                f"{target}, not an embedspace Encoder."
            )
        return encoder


_FORMATS = "embedspace.encoders.model_formats"
#: Kinds of model named by path or id, probed in this order (the first match loads it);
#: adding a kind is one line. Sentence-transformers comes last: its probe (a config.json)
#: also matches CLIP, two-tower and alignment folders.
MODEL_FORMATS: tuple[ModelFormat, ...] = (
    ModelFormat(
        "CLIP from the Hugging Face hub",
        f"{_FORMATS}:is_hub_id",
        f"{_FORMATS}:hub_clip",
        paths=False,
    ),
    ModelFormat("Two-tower user or item tower", f"{_FORMATS}:is_tower_path", f"{_FORMATS}:tower"),
    ModelFormat("Word vectors file", f"{_FORMATS}:is_word_vectors", f"{_FORMATS}:word_vectors"),
    ModelFormat(
        "Trained text encoder",
        f"{_FORMATS}:is_trained_text_folder",
        f"{_FORMATS}:trained_text_folder",
    ),
    ModelFormat(
        "Fitted static encoder", f"{_FORMATS}:is_static_folder", f"{_FORMATS}:static_folder"
    ),
    ModelFormat(
        "Trained image encoder",
        f"{_FORMATS}:is_trained_image_folder",
        f"{_FORMATS}:trained_image_folder",
    ),
    ModelFormat("ONNX text model folder", f"{_FORMATS}:is_onnx_folder", f"{_FORMATS}:onnx_folder"),
    ModelFormat(
        "CLIP folder (text + images)", f"{_FORMATS}:is_clip_folder", f"{_FORMATS}:clip_folder"
    ),
    ModelFormat(
        "CLAP folder (text + audio)", f"{_FORMATS}:is_clap_folder", f"{_FORMATS}:clap_folder"
    ),
    ModelFormat(
        "Two-tower user or item tower",
        f"{_FORMATS}:is_two_tower_folder",
        f"{_FORMATS}:item_tower",
    ),
    ModelFormat(
        "Image-text alignment model",
        f"{_FORMATS}:is_alignment_folder",
        f"{_FORMATS}:alignment_folder",
    ),
    ModelFormat(
        "sentence-transformers folder",
        f"{_FORMATS}:is_sentence_transformers_folder",
        f"{_FORMATS}:sentence_transformers_folder",
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
    from importlib.metadata import entry_points  # ~17 ms: only when plugins are looked up

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
    # not a name: a path, also one in this folder written without "./" (vectors.txt)
    by_path = looks_like_path(wanted) or _exists(wanted)
    found = _probe(wanted, by_path=by_path)
    if found is not None:
        return found
    if by_path:
        raise _no_model(Path(wanted).expanduser())
    names = [e.name for e in known]
    raise UnknownEncoder(
        f"Unknown encoder '{wanted}'.{did_you_mean(wanted, names)} Choose one of: "
        f"{', '.join(names)}, or give the path of a model directory (or hf:ID for a CLIP "
        "model from the Hugging Face hub). See 'embedspace encoders'."
    )


def from_directory(path: Path) -> Encoder:
    """An encoder for a model file or directory, of the first kind in ``MODEL_FORMATS``
    whose probe recognises it (ONNX text folder, CLIP folder, alignment model,
    sentence-transformers folder, word vectors, two-tower model…).

    Raises ``UnknownEncoder`` saying what a model folder holds when none does."""
    found = _probe(str(path), by_path=True)
    if found is None:
        raise _no_model(path)
    return found


def _probe(target: str, *, by_path: bool) -> Encoder | None:
    """The encoder of the first model format recognising ``target``, or ``None``. Formats
    named by path are probed only when ``by_path``."""
    for model_format in MODEL_FORMATS:
        if (by_path or not model_format.paths) and model_format.matches(target):
            return model_format.create(target)
    return None


def _exists(name: str) -> bool:
    """Whether ``name`` is a file or folder here (a name too long for one is not)."""
    try:
        return Path(name).exists()
    except (OSError, ValueError):
        return False


def _no_model(path: Path) -> UnknownEncoder:
    if not path.is_dir():
        return UnknownEncoder(
            f"No model directory at {path}. Give a folder holding a sentence-transformers "
            "model or model.onnx + tokenizer.json, a word-vector file (.bin, .vec, .txt), "
            "or a name from 'embedspace encoders'."
        )
    return UnknownEncoder(
        f"{path} holds no model: expected model.onnx + tokenizer.json, or a "
        "sentence-transformers directory (modules.json, config.json, weights)."
    )
