"""Train an image-text alignment on your own captioned images (the LiT recipe).

Both encoders stay frozen (by default EfficientNet-Lite0 for images and minilm-l6 for
text); only a small head on each side is trained, with a symmetric contrastive loss over
the batch (InfoNCE, learnt temperature). Captions repeat in real data (many photos of "a
red shoe"), so pairs whose captions are identical count as positives of each other rather
than as negatives. Features are computed once, so an epoch costs milliseconds; the
validation loss on a held-out part picks the epoch kept (early stopping).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.aligned import CONFIG_FILE, FORMAT, WEIGHTS_FILE, AlignedEncoder
from embedspace.encoders.base import Encoder
from embedspace.encoders.registry import get as get_encoder
from embedspace.errors import InvalidInput
from embedspace.io.folders import check_replaceable, write_atomically
from embedspace.progress import ProgressCallback, legacy_progress
from embedspace.train.fitting import torch_module

log = logging.getLogger("embedspace")
KIND = "an alignment model"


@dataclass(frozen=True)
class AlignSettings:
    """Hyper-parameters of ``train_align`` (the CLI exposes each one)."""

    dim: int = 256
    hidden: int = 512
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.07
    validation: float = 0.1
    patience: int = 5
    seed: int = 0


@dataclass(frozen=True)
class AlignReport:
    """What training did: the epoch kept, its validation loss and recall@1 (caption to
    image and image to caption, over the held-out pairs)."""

    path: Path
    pairs: int
    epochs_run: int
    best_epoch: int
    validation_loss: float
    validation_recall: float


def train_align(
    images: Sequence[str | Path | Any],
    captions: Sequence[str],
    output: str | Path,
    *,
    image_encoder: str | Encoder = "efficientnet-lite0",
    text_encoder: str | Encoder = "minilm-l6",
    settings: AlignSettings | None = None,
    on_progress: ProgressCallback | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> AlignReport:
    """Fit projection heads so ``images[i]`` and ``captions[i]`` meet; save to ``output``.

    Returns an ``AlignReport``; the saved folder loads with ``embedspace.encoders.get(path)``.
    ``on_progress(stage, done, total)`` hears about embedding the images and captions
    (``progress=True``, deprecated, prints plain lines); ``on_epoch(epoch, train_loss,
    validation_loss)`` is called after every epoch.
    """
    settings = settings or AlignSettings()
    _check(images, captions, settings)
    check_replaceable(Path(output), CONFIG_FILE, KIND)  # before minutes of work, not after
    image_tower, text_tower = get_encoder(image_encoder), get_encoder(text_encoder)
    if "image" not in image_tower.modalities or "text" not in text_tower.modalities:
        raise InvalidInput(
            f"'{image_tower.name}' must embed images and '{text_tower.name}' text; "
            "e.g. --image-encoder efficientnet-lite0 --text-encoder minilm-l6."
        )
    on_progress = legacy_progress(on_progress, progress)
    image_features = image_tower.encode_images(list(images), on_progress=on_progress)
    unique, caption_ids = np.unique(np.asarray(captions, dtype=object), return_inverse=True)
    text_features = text_tower.encode([str(c) for c in unique], on_progress=on_progress)[
        caption_ids
    ]
    weights, report = _fit(image_features, text_features, caption_ids, settings, on_epoch)
    config = {
        "format": FORMAT,
        "version": 1,
        "image_encoder": image_tower.name,
        "text_encoder": text_tower.name,
        "image_dim": int(image_features.shape[1]),
        "text_dim": int(text_features.shape[1]),
        "dim": settings.dim,
        "settings": asdict(settings),
        "pairs": len(captions),
        **report,
    }
    path = _save(Path(output), config, weights)
    return AlignReport(
        path=path,
        pairs=len(captions),
        epochs_run=int(report["epochs_run"]),
        best_epoch=int(report["best_epoch"]),
        validation_loss=float(report["validation_loss"]),
        validation_recall=float(report["validation_recall"]),
    )


def _check(images: Sequence[Any], captions: Sequence[str], settings: AlignSettings) -> None:
    if len(images) != len(captions):
        raise InvalidInput(f"{len(images)} images but {len(captions)} captions; pair them 1:1.")
    if len(captions) < 8:
        raise InvalidInput(
            f"Only {len(captions)} pairs: alignment needs at least 8 (ideally 1,000+)."
        )
    if any(not isinstance(c, str) or not c.strip() for c in captions):
        raise InvalidInput("Every caption must be a non-empty text.")
    if not 0 <= settings.validation < 0.5:
        raise InvalidInput("validation must be a fraction from 0 to 0.5 (e.g. 0.1).")
    for name in ("dim", "hidden", "epochs", "batch_size", "patience"):
        if getattr(settings, name) < 1:
            raise InvalidInput(f"{name} must be at least 1.")
    if settings.learning_rate <= 0 or settings.temperature <= 0:
        raise InvalidInput("learning_rate and temperature must be positive.")


def _fit(
    image_features: np.ndarray,
    text_features: np.ndarray,
    caption_ids: np.ndarray,
    settings: AlignSettings,
    on_epoch: Callable[[int, float, float], None] | None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    torch = torch_module("Training an alignment")

    torch.manual_seed(settings.seed)
    generator = np.random.default_rng(settings.seed)
    order = generator.permutation(len(caption_ids))
    held = int(round(len(order) * settings.validation))
    valid, train = order[:held], order[held:]
    stats = {
        "image": _standardiser(image_features[train]),
        "text": _standardiser(text_features[train]),
    }
    tensors = {
        "image": torch.from_numpy((image_features - stats["image"][0]) / stats["image"][1]),
        "text": torch.from_numpy((text_features - stats["text"][0]) / stats["text"][1]),
    }
    labels = torch.from_numpy(caption_ids.astype(np.int64))
    heads = torch.nn.ModuleDict(
        {
            tower: torch.nn.Sequential(
                torch.nn.Linear(tensors[tower].shape[1], settings.hidden),
                torch.nn.GELU(approximate="tanh"),
                torch.nn.Linear(settings.hidden, settings.dim),
            )
            for tower in ("image", "text")
        }
    )
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / settings.temperature)))
    optimiser = torch.optim.AdamW(
        [*heads.parameters(), log_scale],
        lr=settings.learning_rate,
        weight_decay=settings.weight_decay,
    )

    def loss_of(index: np.ndarray) -> Any:
        rows = torch.from_numpy(index)
        a = torch.nn.functional.normalize(heads["image"](tensors["image"][rows]), dim=1)
        b = torch.nn.functional.normalize(heads["text"](tensors["text"][rows]), dim=1)
        logits = log_scale.clamp(max=math.log(100.0)).exp() * a @ b.T
        same = (labels[rows][:, None] == labels[rows][None, :]).float()
        target = same / same.sum(dim=1, keepdim=True)
        return 0.5 * (
            torch.sum(-target * logits.log_softmax(dim=1), dim=1).mean()
            + torch.sum(-target * logits.log_softmax(dim=0).T, dim=1).mean()
        )

    best: tuple[float, int, dict[str, Any]] = (math.inf, 0, {})
    epochs_run = 0
    for epoch in range(1, settings.epochs + 1):
        heads.train()
        shuffled = generator.permutation(train)
        total = 0.0
        for start in range(0, len(shuffled), settings.batch_size):
            batch = shuffled[start : start + settings.batch_size]
            if len(batch) < 2:
                continue
            optimiser.zero_grad()
            loss = loss_of(batch)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        heads.eval()
        with torch.no_grad():
            check = valid if len(valid) >= 2 else train
            valid_loss = float(
                np.mean([float(loss_of(c)) for c in _chunks(check, settings.batch_size)])
            )
        epochs_run = epoch
        if on_epoch is not None:
            on_epoch(epoch, total / max(1, len(train)), valid_loss)
        if valid_loss < best[0] - 1e-4:
            state = {k: v.detach().clone() for k, v in heads.state_dict().items()}
            best = (valid_loss, epoch, state)
        elif epoch - best[1] >= settings.patience:
            break
    heads.load_state_dict(best[2])
    weights = _export(heads, stats)
    check = valid if len(valid) >= 2 else train
    recall = _recall_at_1(image_features[check], text_features[check], caption_ids[check], weights)
    return weights, {
        "epochs_run": epochs_run,
        "best_epoch": best[1],
        "validation_loss": round(best[0], 6),
        "validation_recall": round(recall, 6),
    }


def _chunks(index: np.ndarray, size: int) -> list[np.ndarray]:
    chunks = [index[s : s + size] for s in range(0, len(index), size)]
    return [c for c in chunks if len(c) >= 2]


def _standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = features.mean(axis=0).astype(np.float32)
    std = features.std(axis=0).astype(np.float32)
    return mean, np.where(std > 1e-6, std, 1.0).astype(np.float32)


def _export(heads: Any, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    weights: dict[str, np.ndarray] = {}
    for tower in ("image", "text"):
        layers = heads[tower]
        weights[f"{tower}.mean"], weights[f"{tower}.std"] = stats[tower]
        for name, layer in (("1", layers[0]), ("2", layers[2])):
            weights[f"{tower}.w{name}"] = layer.weight.detach().numpy().astype(np.float32)
            weights[f"{tower}.b{name}"] = layer.bias.detach().numpy().astype(np.float32)
    return {k: np.ascontiguousarray(v) for k, v in weights.items()}


def _recall_at_1(
    image_features: np.ndarray,
    text_features: np.ndarray,
    caption_ids: np.ndarray,
    weights: dict[str, np.ndarray],
) -> float:
    """How often the best-scoring caption of an image is (a copy of) its own caption."""
    from embedspace.encoders.aligned import project

    a = project(image_features, weights, "image")
    b = project(text_features, weights, "text")
    best = np.argmax(a @ b.T, axis=1)
    return float(np.mean(caption_ids[best] == caption_ids))


def _save(path: Path, config: dict[str, Any], weights: dict[str, np.ndarray]) -> Path:
    """Write the model folder atomically: a temporary sibling, then a rename."""
    from safetensors.numpy import save_file

    def fill(temp: Path) -> None:
        save_file(weights, str(temp / WEIGHTS_FILE))
        (temp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    write_atomically(path, fill, marker=CONFIG_FILE, kind=KIND)
    AlignedEncoder(path).config()  # read back what was written
    return path
