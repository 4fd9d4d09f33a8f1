"""The built-in kinds of model a user names by path or id: how to recognise each one
(a probe) and how to load it (a factory).

The registry lists them as ``"module:callable"`` strings, so looking encoders up imports
none of this; each function here imports its model module only when called. Probes and
factories take the name as the user wrote it (``./clip-vit-b32``, ``hf:openai/clip``,
``./movies#user``). Probes touch the disk at most to look at a folder's file names.
"""

from __future__ import annotations

from pathlib import Path

from embedspace.encoders.base import Encoder
from embedspace.encoders.clip import HUB_PREFIX
from embedspace.errors import InvalidInput

TOWERS = ("user", "item")


def _path(target: str) -> Path:
    return Path(target).expanduser()


def _folder(target: str) -> Path | None:
    path = _path(target)
    return path.resolve() if path.is_dir() else None


def is_hub_id(target: str) -> bool:
    """``hf:ID``: a CLIP model the user asked to fetch from the Hugging Face hub."""
    return target.startswith(HUB_PREFIX) and len(target) > len(HUB_PREFIX)


def hub_clip(target: str) -> Encoder:
    """A CLIP model from the hub (downloaded on first use, because the user asked)."""
    from embedspace.encoders.clip import ClipEncoder

    return ClipEncoder(target)


def is_tower_path(target: str) -> bool:
    """``PATH#user`` or ``PATH#item``: one tower of a two-tower model."""
    base, _, tower = target.rpartition("#")
    return bool(base) and tower in TOWERS


def tower(target: str) -> Encoder:
    """The tower named after ``#`` of the two-tower model at the path before it."""
    from embedspace.encoders.two_tower import TwoTowerEncoder

    base, _, which = target.rpartition("#")
    return TwoTowerEncoder(_path(base), which)


def is_word_vectors(target: str) -> bool:
    """A word-vector file (``.bin``, ``.vec``, ``.txt``…) or an embedspace word folder."""
    from embedspace.encoders.word_vectors import is_word_vector_path

    return is_word_vector_path(_path(target))


def word_vectors(target: str) -> Encoder:
    """Word vectors from a file or an embedspace word-vector folder."""
    from embedspace.encoders.word_vectors import from_path

    return from_path(_path(target).resolve())


def is_trained_text_folder(target: str) -> bool:
    """A text encoder fine-tuned by ``embedspace train text-encoder``."""
    from embedspace.encoders.trained_text import is_text_encoder_directory

    folder = _folder(target)
    return folder is not None and is_text_encoder_directory(folder)


def trained_text_folder(target: str) -> Encoder:
    """A fine-tuned text encoder, run by onnxruntime."""
    from embedspace.encoders.trained_text import trained_text_encoder

    return trained_text_encoder(_path(target).resolve())


def is_static_folder(target: str) -> bool:
    """A static encoder fitted by ``embedspace train static-encoder``."""
    from embedspace.encoders.static_folder import is_static_encoder_directory

    folder = _folder(target)
    return folder is not None and is_static_encoder_directory(folder)


def static_folder(target: str) -> Encoder:
    """A fitted static encoder (a token table)."""
    from embedspace.encoders.static_folder import static_folder

    return static_folder(_path(target).resolve())


def is_trained_image_folder(target: str) -> bool:
    """An image encoder trained by ``embedspace train image-encoder``."""
    from embedspace.encoders.trained_image import is_image_encoder_directory

    folder = _folder(target)
    return folder is not None and is_image_encoder_directory(folder)


def trained_image_folder(target: str) -> Encoder:
    """A trained image encoder, run by onnxruntime."""
    from embedspace.encoders.trained_image import TrainedImageEncoder

    return TrainedImageEncoder(_path(target).resolve())


def is_onnx_folder(target: str) -> bool:
    """A folder with ``model.onnx`` (or ``onnx/model.onnx``)."""
    folder = _folder(target)
    return folder is not None and (
        (folder / "model.onnx").exists() or (folder / "onnx" / "model.onnx").exists()
    )


def onnx_folder(target: str) -> Encoder:
    """An ONNX text model folder, run by onnxruntime."""
    from embedspace.encoders.onnx_text import onnx_directory

    return onnx_directory(_path(target).resolve())


def is_clip_folder(target: str) -> bool:
    """A transformers CLIP folder (``config.json`` with ``model_type`` ``clip``)."""
    from embedspace.encoders.clip import is_clip_directory

    folder = _folder(target)
    return folder is not None and is_clip_directory(folder)


def clip_folder(target: str) -> Encoder:
    """A CLIP model from a folder."""
    from embedspace.encoders.clip import ClipEncoder

    return ClipEncoder(_path(target).resolve())


def is_clap_folder(target: str) -> bool:
    """A transformers CLAP folder (``config.json`` with ``model_type`` ``clap``)."""
    from embedspace.encoders.clap import is_clap_directory

    folder = _folder(target)
    return folder is not None and is_clap_directory(folder)


def clap_folder(target: str) -> Encoder:
    """A CLAP model (texts and sounds) from a folder."""
    from embedspace.encoders.clap import ClapEncoder

    return ClapEncoder(_path(target).resolve())


def export_onnx(target: str | Path) -> tuple[Path, ...]:
    """Export the CLIP or CLAP folder at ``target`` to ONNX (into ``target/onnx``), so it
    runs on onnxruntime from then on; returns the files written. ``InvalidInput`` when the
    folder is neither."""
    from embedspace.encoders.clip import TEXT_ONNX, VISION_ONNX

    if is_clap_folder(str(target)):
        from embedspace.encoders.clap import AUDIO_ONNX
        from embedspace.encoders.clap_export import export_onnx as export_clap

        written = export_clap(target)
        return written / TEXT_ONNX, written / AUDIO_ONNX
    if is_clip_folder(str(target)):
        from embedspace.encoders.clip_export import export_onnx as export_clip

        written = export_clip(target)
        return written / TEXT_ONNX, written / VISION_ONNX
    raise InvalidInput(
        f"{_path(str(target)).resolve()} is not a transformers CLIP folder or CLAP folder "
        "(config.json with model_type clip or clap, as save_pretrained() writes it)."
    )


def is_two_tower_folder(target: str) -> bool:
    """A two-tower model folder (its item tower is the encoder of its items)."""
    from embedspace.encoders.two_tower import is_two_tower_directory

    folder = _folder(target)
    return folder is not None and is_two_tower_directory(folder)


def item_tower(target: str) -> Encoder:
    """The item tower of a two-tower model folder."""
    from embedspace.encoders.two_tower import TwoTowerEncoder

    return TwoTowerEncoder(_path(target).resolve(), "item")


def is_alignment_folder(target: str) -> bool:
    """An image-text alignment model (``embedspace train align``)."""
    from embedspace.encoders.aligned import is_alignment_directory

    folder = _folder(target)
    return folder is not None and is_alignment_directory(folder)


def alignment_folder(target: str) -> Encoder:
    """An image-text alignment model."""
    from embedspace.encoders.aligned import AlignedEncoder

    return AlignedEncoder(_path(target).resolve())


def is_sentence_transformers_folder(target: str) -> bool:
    """A sentence-transformers (or transformers) folder: ``modules.json`` or
    ``config.json``. Probed last: other kinds have a ``config.json`` too."""
    folder = _folder(target)
    return folder is not None and (
        (folder / "modules.json").exists() or (folder / "config.json").exists()
    )


def sentence_transformers_folder(target: str) -> Encoder:
    """A sentence-transformers folder, run by PyTorch."""
    from embedspace.encoders.sentence_transformers import SentenceTransformerEncoder

    return SentenceTransformerEncoder(_path(target).resolve())
