"""Export a transformers CLIP folder to two ONNX graphs (text tower, vision tower), so the
folder then runs on onnxruntime instead of torch. Written to ``FOLDER/onnx/`` (or another
folder), atomically; ``ClipEncoder`` uses them whenever they are there."""

from __future__ import annotations

import contextlib
import importlib
import warnings
from pathlib import Path
from typing import Any

from embedspace.encoders.clip import ONNX_DIR, TEXT_ONNX, VISION_ONNX, is_clip_directory
from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.folders import write_atomically


def load_for_export(model_class: str, source: Path, feature: str) -> tuple[Any, Any]:
    """torch, and the transformers ``model_class`` in ``source`` (local files only, in eval
    mode, transformers' logging and progress bars silenced: our output is ours)."""
    try:
        import torch

        transformers: Any = importlib.import_module("transformers")
    except ImportError:
        raise MissingExtra(feature, "clip", "transformers") from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    model: Any = getattr(transformers, model_class).from_pretrained(
        str(source), local_files_only=True
    )
    model.eval()
    return torch, model


def export_onnx(folder: str | Path) -> Path:
    """Export the CLIP model in ``folder`` to ``folder/onnx``; returns that path."""
    source = Path(folder).resolve()
    if not is_clip_directory(source):
        raise InvalidInput(
            f"{source} is not a transformers CLIP folder (config.json with model_type clip)."
        )
    torch, model = load_for_export("CLIPModel", source, "Exporting CLIP to ONNX")
    target = source / ONNX_DIR

    def fill(temp: Path) -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            export_tower(
                torch,
                TextTower(model),
                (torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)),
                temp / TEXT_ONNX,
                ["input_ids", "attention_mask"],
                {
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                },
            )
            size = int(model.config.vision_config.image_size)
            export_tower(
                torch,
                _Vision(model),
                (torch.zeros(2, 3, size, size),),
                temp / VISION_ONNX,
                ["pixel_values"],
                {"pixel_values": {0: "batch"}},
            )

    write_atomically(target, fill, marker=TEXT_ONNX, kind="a CLIP ONNX export")
    return target


def tower_output(output: Any) -> Any:
    """A tower's embeddings: the tensor, or ``pooler_output`` of a transformers output."""
    return output if hasattr(output, "shape") else output.pooler_output


class TextTower:
    """The model's ``get_text_features`` as a ``torch.nn.Module`` (in eval mode)."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Text(torch.nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return tower_output(
                    self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
                )

        return Text().eval()


class _Vision:
    def __new__(cls, model: Any) -> Any:
        import torch

        class Vision(torch.nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, pixel_values: Any) -> Any:
                return tower_output(self.model.get_image_features(pixel_values=pixel_values))

        return Vision().eval()


def export_tower(
    torch: Any,
    module: Any,
    sample: tuple[Any, ...],
    path: Path,
    names: list[str],
    axes: dict[str, dict[int, str]],
) -> None:
    """``module`` run on ``sample`` to ONNX at ``path``: inputs ``names``, output ``embeds``
    (batch-dynamic), opset 17."""
    torch.onnx.export(
        module,
        sample,
        str(path),
        input_names=names,
        output_names=["embeds"],
        dynamic_axes={**axes, "embeds": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
