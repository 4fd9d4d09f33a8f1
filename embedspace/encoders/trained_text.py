"""Text encoders fine-tuned on the user's own pairs (``embedspace train text-encoder``).

A model folder holds ``text_encoder.json`` (what it was trained from and how), the BERT
weights in Hugging Face form (``model.safetensors``, ``config.json``, ``vocab.txt``) and the
sentence-transformers files, so sentence-transformers can load it too. embedspace runs it
as it runs ``minilm-l6``: ONNX graphs written from the weights, in the int8 recipe chosen
for this CPU when that recipe keeps the fidelity floor against fp32, else fp32
(``bert_folder``). Loading needs no torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from embedspace.encoders.bert_folder import BertFolder
from embedspace.encoders.model_config import model_tag, read_model_config
from embedspace.encoders.onnx_text import OnnxTextEncoder

CONFIG_FILE = "text_encoder.json"
FORMAT = "embedspace-text-encoder"


def is_text_encoder_directory(path: Path) -> bool:
    """True when ``path`` holds a trained text encoder."""
    return (path / CONFIG_FILE).is_file()


def read_config(path: Path) -> dict[str, Any]:
    """The folder's ``text_encoder.json``, checked."""
    return read_model_config(path / CONFIG_FILE, FORMAT, "text encoder")


def bert_folder(path: Path, config: dict[str, Any] | None = None) -> BertFolder:
    """The prepared graphs and recipe choice of the trained folder at ``path``."""
    config = config if config is not None else read_config(path)

    def unavailable() -> str | None:
        if not (path / "model.safetensors").is_file():
            return f"{path} has no model.safetensors; train it again."
        if importlib.util.find_spec("onnxruntime") is None:
            return "onnxruntime is not installed: pip install onnxruntime"
        return None

    return BertFolder(
        "text-encoder",
        lambda: path,
        unavailable,
        max_tokens=int(config.get("max_tokens", 256)),
        # Each training writes a new id: a folder trained again at the same path never
        # reuses the graphs or recipe choice prepared for the one before.
        identity=f"{path}|{config.get('training_id', '')}",
    )


def trained_text_encoder(path: Path) -> OnnxTextEncoder:
    """The encoder of the trained folder at ``path`` (named by its path)."""
    config = read_config(path)
    return bert_folder(path, config).encoder(
        str(path),
        "int8",
        f"text encoder fine-tuned from {config.get('base', '?')} ({path}); int8 or fp32 "
        "ONNX, chosen for this CPU",
        dim=int(config["dim"]),
        tag=model_tag(config),
    )
