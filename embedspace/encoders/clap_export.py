"""Export a transformers CLAP folder to two ONNX graphs (text tower, audio tower, each with
its projection), so the folder then runs on onnxruntime instead of torch. Written to
``FOLDER/onnx/`` atomically, as CLIP's export is; ``ClapEncoder`` uses them whenever they
are there.

The audio tower (HTSAT, a Swin transformer over the spectrogram) traces as it is, except
for feature fusion: transformers runs the fusion branch only for the clips of a batch that
are longer than the window, deciding in Python, which a traced graph would freeze for
every batch. The export computes the branch for every clip and keeps it where ``is_longer``
says so, which gives each clip the same result as transformers does.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedspace.encoders.clap import AUDIO_ONNX, MelSettings, is_clap_directory
from embedspace.encoders.clip import ONNX_DIR, TEXT_ONNX
from embedspace.encoders.clip_export import TextTower, export_tower, load_for_export, tower_output
from embedspace.errors import InvalidInput
from embedspace.io.folders import write_atomically


def export_onnx(folder: str | Path) -> Path:
    """Export the CLAP model in ``folder`` to ``folder/onnx`` (``text.onnx`` and
    ``audio.onnx``); returns that path. ``InvalidInput`` when it is not a CLAP folder."""
    source = Path(folder).resolve()
    if not is_clap_directory(source):
        raise InvalidInput(
            f"{source} is not a transformers CLAP folder (config.json with model_type clap)."
        )
    settings = MelSettings.read(source)
    torch, model = load_for_export("ClapModel", source, "Exporting CLAP to ONNX")

    def fill(temp: Path) -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            _export_text(torch, model, temp / TEXT_ONNX)
            _export_audio(torch, model, settings, temp / AUDIO_ONNX)

    write_atomically(source / ONNX_DIR, fill, marker=TEXT_ONNX, kind="a CLAP ONNX export")
    return source / ONNX_DIR


def _export_text(torch: Any, model: Any, path: Path) -> None:
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 5, 2, 1, 1]], dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    export_tower(
        torch,
        TextTower(model),
        (ids, (ids != model.config.text_config.pad_token_id).long()),
        path,
        ["input_ids", "attention_mask"],
        axes,
    )


def _export_audio(torch: Any, model: Any, settings: MelSettings, path: Path) -> None:
    fusion = bool(model.config.audio_config.enable_fusion)

    class Audio(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_features: Any, is_longer: Any) -> Any:
            return tower_output(
                self.model.get_audio_features(input_features=input_features, is_longer=is_longer)
            )

    frames = settings.window_samples // settings.hop + 1
    features = torch.randn(2, 4 if fusion else 1, frames, settings.n_mels)
    is_longer = torch.tensor([[True], [False]])
    names = ["input_features", "is_longer"] if fusion else ["input_features"]
    embed = model.audio_model.audio_encoder.patch_embed
    with _branch_free_fusion(torch, embed) if fusion else contextlib.nullcontext():
        export_tower(
            torch,
            Audio().eval(),
            (features, is_longer),
            path,
            names,
            {n: {0: "batch"} for n in names},
        )


@contextlib.contextmanager
def _branch_free_fusion(torch: Any, embed: Any) -> Iterator[None]:
    """Make HTSAT's patch embedding fuse every clip and keep the fusion only for the clips
    marked longer (``ClapAudioPatchEmbed.forward`` without its data-dependent branch)."""

    def forward(hidden_states: Any, is_longer_idx: Any = None) -> Any:
        whole = embed.proj(hidden_states[:, 0:1, :, :])
        crops = hidden_states[:, 1:, :, :]
        batch, channels, height, width = crops.shape
        local = embed.mel_conv2d(crops.reshape(batch * channels, 1, height, width))
        _, size, local_height, local_width = local.shape
        local = local.view(batch, channels, size, local_height, local_width)
        local = local.permute(0, 2, 3, 1, 4).flatten(3)
        local = torch.nn.functional.pad(local, (0, whole.size(-1) - local.size(-1)))
        marked = torch.arange(batch)[:, None] == is_longer_idx[None, :]
        longer = marked.any(dim=1)[:, None, None, None]
        states = torch.where(longer, embed.fusion_model(whole, local), whole)
        if embed.flatten:
            states = states.flatten(2).transpose(1, 2)
        return embed.norm(states)

    embed.forward = forward
    try:
        yield
    finally:
        del embed.forward  # the class's own forward again
