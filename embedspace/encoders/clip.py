"""Real CLIP models (text and images in one space) from transformers ``CLIPModel`` folders.

No package ships CLIP weights, so a CLIP model comes from a folder the user names (saved
with ``save_pretrained``: ``config.json`` with ``model_type`` ``clip``, the weights, the
tokenizer and ``preprocessor_config.json``), or, only when asked for explicitly with the
``hf:`` prefix (``hf:openai/clip-vit-base-patch32``), from the Hugging Face hub. Without that
prefix nothing is ever downloaded. Runs on torch, on the CPU (extra ``clip``).

Both towers' outputs are the projected embeddings, normalised to unit length; images go
through the model's own image processor (resize, centre crop, its mean and std).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, MissingExtra, ModelNotAvailable

HUB_PREFIX = "hf:"
ONNX_DIR = "onnx"  # written by ``embedspace export-onnx``; used instead of torch when present
TEXT_ONNX = "text.onnx"
VISION_ONNX = "vision.onnx"


def is_clip_directory(path: Path) -> bool:
    """True when ``path/config.json`` declares a CLIP model."""
    config = path / "config.json"
    if not config.is_file():
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("model_type") == "clip")
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


class ClipEncoder(Encoder):
    """A transformers CLIP model: ``encode`` embeds texts, ``encode_images`` images."""

    modalities = frozenset({"text", "image"})
    metric = "cosine"
    normalized = True
    default_batch_size = 32
    label_template = "a photo of a {}"  # the prompt CLIP models were evaluated with

    def __init__(self, source: str | Path) -> None:
        text = str(source)
        self.hub_id = text[len(HUB_PREFIX) :] if text.startswith(HUB_PREFIX) else None
        self.path = None if self.hub_id else Path(source)
        self.name = f"{HUB_PREFIX}{self.hub_id}" if self.hub_id else str(self.path)
        self.source = (
            f"Hugging Face hub '{self.hub_id}' (downloaded on first use, as asked)"
            if self.hub_id
            else f"CLIP directory {self.path}"
        )
        self._dim: int | None = None
        self._parts: tuple[Any, Any, Any] | None = None
        self._sessions: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """The projection size (``projection_dim`` in the model's config)."""
        if self._dim is None:
            if self.path is not None:
                config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
                self._dim = int(config.get("projection_dim", 512))
            else:
                self._dim = int(self._load()[0].config.projection_dim)
        return self._dim

    def availability_error(self) -> EmbedspaceError | None:
        """``MissingExtra`` when torch, transformers or Pillow is missing, else ``None``."""
        for module in ("torch", "transformers", "PIL"):
            if importlib.util.find_spec(module) is None:
                return MissingExtra("Running CLIP models", "clip", module)
        return None

    def _load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._parts is None:
                self._parts = self._read()
            return self._parts

    def onnx_folder(self) -> Path | None:
        """The exported ONNX towers, when the folder has them."""
        if self.path is None:
            return None
        folder = self.path / ONNX_DIR
        return (
            folder if (folder / TEXT_ONNX).is_file() and (folder / VISION_ONNX).is_file() else None
        )

    def _onnx(self) -> tuple[Any, Any]:
        with self._lock:
            if self._sessions is None:
                import onnxruntime

                from embedspace.config import cpu_count

                folder = self.onnx_folder()
                assert folder is not None
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = cpu_count()
                self._sessions = tuple(  # type: ignore[assignment]
                    onnxruntime.InferenceSession(
                        str(folder / name), options, providers=["CPUExecutionProvider"]
                    )
                    for name in (TEXT_ONNX, VISION_ONNX)
                )
            assert self._sessions is not None
            return self._sessions

    def _read(self) -> tuple[Any, Any, Any]:
        try:
            transformers: Any = importlib.import_module("transformers")
        except ImportError:
            raise MissingExtra("Running CLIP models", "clip", "transformers") from None
        where = self.hub_id or str(self.path)
        local = self.hub_id is None
        transformers.logging.set_verbosity_error()  # its notices are not our output
        transformers.utils.logging.disable_progress_bar()
        try:
            model = (
                None  # the ONNX towers replace it: torch never runs the model
                if self.onnx_folder() is not None
                else transformers.CLIPModel.from_pretrained(where, local_files_only=local)
            )
            tokenizer = transformers.AutoTokenizer.from_pretrained(where, local_files_only=local)
            processor = transformers.AutoImageProcessor.from_pretrained(
                where, local_files_only=local
            )
        except OSError as error:
            hint = (
                "Check the hub id and the network."
                if self.hub_id
                else "The folder needs config.json, the weights, the tokenizer files and "
                "preprocessor_config.json (as save_pretrained writes them)."
            )
            raise ModelNotAvailable(
                f"Cannot load the CLIP model {where}: {error}. {hint}"
            ) from None
        if model is not None:
            model.eval()
        return model, tokenizer, processor

    def _max_tokens(self) -> int:
        if self.path is not None:
            config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
            return int(config.get("text_config", {}).get("max_position_embeddings", 77))
        return int(self._load()[0].config.text_config.max_position_embeddings)

    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        """Texts through the text tower, images (PIL) through the vision tower."""
        if modality == "image":
            return self._encode_images(batch)
        return self._encode_texts(batch)

    def _encode_texts(self, batch: list[str]) -> np.ndarray:
        model, tokenizer, _ = self._load()
        limit = self._max_tokens()
        if model is None:
            inputs = tokenizer(
                batch, padding=True, truncation=True, max_length=limit, return_tensors="np"
            )
            feed = {
                k: np.asarray(inputs[k], dtype=np.int64) for k in ("input_ids", "attention_mask")
            }
            return _unit_array(self._onnx()[0].run(None, feed)[0])
        import torch

        inputs = tokenizer(
            batch, padding=True, truncation=True, max_length=limit, return_tensors="pt"
        )
        with torch.inference_mode():
            output = model.get_text_features(**inputs)
        return _unit(output)

    def _encode_images(self, batch: list[Any]) -> np.ndarray:
        model, _, processor = self._load()
        if model is None:
            pixels = processor(images=batch, return_tensors="np")["pixel_values"]
            feed = {"pixel_values": np.asarray(pixels, dtype=np.float32)}
            return _unit_array(self._onnx()[1].run(None, feed)[0])
        import torch

        inputs = processor(images=batch, return_tensors="pt")
        with torch.inference_mode():
            output = model.get_image_features(pixel_values=inputs["pixel_values"])
        return _unit(output)


def _unit(output: Any) -> np.ndarray:
    """Projected features (a tensor, or ``pooler_output`` in transformers >= 5), unit length."""
    tensor = output if hasattr(output, "numpy") else getattr(output, "pooler_output", None)
    if tensor is None:
        raise EmbedspaceError("The CLIP model returned no features; is it a CLIPModel?")
    return _unit_array(tensor.float().numpy())


def _unit_array(values: Any) -> np.ndarray:
    vectors = np.asarray(values, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)
