"""Train an image encoder for your domain (``embedspace train image-encoder``).

Start from EfficientNet-Lite0 (ImageNet weights, shipped): its pooled 1280-d features are
computed once, with onnxruntime, and a projection head (1280 -> hidden -> dim, GELU) is
trained on them with a supervised contrastive loss: every other image of the same class
(or the same product) in the batch is a right answer, all the rest are negatives. Batches
are drawn as P groups x K images, so each image meets its own kind in every batch.
``unfreeze=N`` also fine-tunes the network's last N blocks and its final convolution (at a
tenth of the head's learning rate, batch norms frozen): the input of those blocks is then
computed once instead of the features, so training stays cheap on a CPU.

A held-out part of the images scores each epoch (mean reciprocal rank of the first image of
the same group among all images); the best epoch is kept (early stopping, and on Ctrl-C).
The whole network (pixels to unit vectors) is exported once to ONNX in the model folder,
checked against the trained weights, and loads as an encoder (``trained_image``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.base import Encoder
from embedspace.encoders.efficientnet import export_onnx
from embedspace.encoders.trained_image import (
    CONFIG_FILE,
    FORMAT,
    INPUT,
    MODEL_FILE,
    OUTPUT,
    TrainedImageEncoder,
)
from embedspace.errors import EmbedspaceError, InvalidInput
from embedspace.io.folders import check_replaceable, write_atomically
from embedspace.progress import ProgressCallback, report
from embedspace.train.fitting import (
    EpochCallback,
    TrainingReport,
    check_fraction,
    fit_loop,
    grouped_loss,
    held_out,
    reciprocal_rank,
    torch_module,
)

KIND = "an image encoder"
MAX_UNFREEZE = 8
BASE = "efficientnet-lite0"
_CHUNK = 64  # images prepared and run at once


@dataclass(frozen=True)
class ImageEncoderSettings:
    """Hyper-parameters of ``train_image_encoder`` (the CLI exposes each one)."""

    dim: int = 128
    hidden: int = 512
    epochs: int = 30
    batch_size: int = 256
    per_group: int = 4
    learning_rate: float = 1e-3
    temperature: float = 0.1
    unfreeze: int = 0
    validation: float = 0.1
    patience: int = 5
    seed: int = 0


@dataclass(frozen=True)
class ImageEncoderReport(TrainingReport):
    """``TrainingReport``, scored on held-out images, with the images counted."""

    images: int
    groups: int
    validation_images: int


def train_image_encoder(
    images: Sequence[str | Path | Any],
    labels: Sequence[str],
    output: str | Path,
    *,
    settings: ImageEncoderSettings | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImageEncoderReport:
    """Train an image encoder so that images with the same label land close together, and
    save its folder to ``output``; it loads with ``embedspace.encoders.get(path)``.

    ``images``: paths or PIL images; ``labels[i]``: the class of ``images[i]``, or the id of
    the product it shows (two photos of one product share an id)."""
    settings = settings or ImageEncoderSettings()
    groups = _check(images, labels, settings)
    output = Path(output)
    check_replaceable(output, CONFIG_FILE, KIND)  # before minutes of work, not after
    torch = torch_module("Training an image encoder")
    from embedspace.encoders import efficientnet

    missing = efficientnet.missing_parts(BASE)
    if missing is not None:
        raise missing
    torch.manual_seed(settings.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(cpu_count())
    started = time.perf_counter()
    try:
        # Split and plan the batches first: refuse before minutes of feature extraction.
        by_rows = len(np.unique(groups)) < 0.2 * len(groups)  # classes, not product pairs
        train, valid = held_out(
            groups, settings.validation, settings.seed, whole_groups=not by_rows
        )
        check = valid if len(valid) else train
        rng = np.random.default_rng(settings.seed)
        plan = list(_pk_batches(groups[train], settings.batch_size, settings.per_group, rng))
        if not plan:
            raise InvalidInput(
                f"{len(train)} training images cannot make a batch of {settings.per_group} "
                "images per class: give more images, or lower --per-group or --validation."
            )
        network = _network()
        tail = _Tail.make(torch, network, settings.unfreeze)
        inputs = _tail_inputs(torch, network, settings.unfreeze, images, on_progress)
        head = torch.nn.Sequential(
            torch.nn.Linear(1280, settings.hidden),
            torch.nn.GELU(approximate="tanh"),
            torch.nn.Linear(settings.hidden, settings.dim),
        )
        model = torch.nn.ModuleDict({"tail": tail, "head": head})
        features = torch.from_numpy(inputs)
        labels_tensor = torch.from_numpy(groups)

        def embed(rows: np.ndarray, *, projected: bool = True) -> Any:
            x = tail(features[torch.from_numpy(rows)].float())
            return torch.nn.functional.normalize(head(x) if projected else x, dim=1)

        evaluations: list[bool] = []

        def evaluate() -> float:
            """Validation MRR@10; the first time, of the starting network's own features
            (what search uses without training), not of the untrained head."""
            projected = bool(evaluations)
            evaluations.append(True)
            with torch.no_grad():
                every = np.arange(len(groups))
                parts = [
                    embed(every[s : s + 512], projected=projected)
                    for s in range(0, len(every), 512)
                ]
                corpus = torch.cat(parts).numpy()
            return reciprocal_rank(corpus[check], groups[check], corpus, groups, skip=check)

        def batches(epoch: int) -> Iterator[Any]:
            for batch in _pk_batches(groups[train], settings.batch_size, settings.per_group, rng):
                rows = train[batch]
                vectors = embed(rows)
                scores = vectors @ vectors.T / settings.temperature
                row_groups = labels_tensor[torch.from_numpy(rows)]
                yield grouped_loss(torch, scores, row_groups, row_groups, exclude_self=True)

        tail_parameters = [p for p in tail.parameters() if p.requires_grad]
        outcome = fit_loop(
            torch,
            model,
            batches,
            len(plan),
            evaluate,
            epochs=settings.epochs,
            patience=settings.patience,
            learning_rate=settings.learning_rate,
            weight_decay=1e-4,
            warmup=0.05,
            keep_start=False,
            train_mode=lambda: _train_mode(model, tail),
            parameter_groups=[
                {"params": list(head.parameters())},
                *(
                    [{"params": tail_parameters, "lr": settings.learning_rate / 10}]
                    if tail_parameters
                    else []
                ),
            ],
            on_epoch=on_epoch,
            on_progress=on_progress,
            stage="Training the image encoder",
        )
        seconds = time.perf_counter() - started
        config = {
            "format": FORMAT,
            "version": 1,
            "training_id": uuid.uuid4().hex,
            "base": BASE,
            "dim": settings.dim,
            "settings": asdict(settings),
            "images": len(groups),
            "groups": int(len(np.unique(groups))),
            "validation_images": int(len(valid)),
            **outcome.summary(seconds),
        }
        rows = np.arange(min(4, len(images)))
        with torch.no_grad():
            trained = embed(rows).numpy()  # what training computed for these images
        whole = _whole(torch, network, settings.unfreeze, tail, head)
        _save(torch, output, whole, config, [images[int(i)] for i in rows], trained)
    finally:
        torch.set_num_threads(threads)
    return ImageEncoderReport(
        path=output,
        images=len(groups),
        groups=int(len(np.unique(groups))),
        validation_images=int(len(valid)),
        **outcome.fields(seconds),
    )


def _train_mode(model: Any, tail: Any) -> None:
    """The head trains; the network's layers stay in eval mode, so batch norms keep the
    ImageNet statistics (small batches of one domain would skew them)."""
    model.train()
    tail.eval()


def _check(
    images: Sequence[Any], labels: Sequence[str], settings: ImageEncoderSettings
) -> np.ndarray:
    if len(images) != len(labels):
        raise InvalidInput(f"{len(images)} images but {len(labels)} labels; pair them 1:1.")
    if any(label is None or not str(label).strip() for label in labels):
        raise InvalidInput("Every image needs a non-empty label.")
    names, groups = np.unique(np.asarray([str(x).strip() for x in labels]), return_inverse=True)
    if len(names) < 2:
        raise InvalidInput(
            f"All {len(labels)} images have one label ('{names[0] if len(names) else ''}'): "
            "training needs at least two classes (one sub-folder per class)."
        )
    counts = np.bincount(groups)
    if int((counts >= 2).sum()) < 2 or len(labels) < 8:
        raise InvalidInput(
            f"Only {len(labels)} images, {int((counts >= 2).sum())} classes with two or more: "
            "training needs at least 8 images and two classes with two images each "
            "(ideally dozens per class)."
        )
    for name in ("dim", "hidden", "epochs", "batch_size", "patience"):
        if getattr(settings, name) < 1:
            raise InvalidInput(f"{name} must be at least 1.")
    if settings.per_group < 2 or settings.batch_size < 2 * settings.per_group:
        raise InvalidInput("per_group must be at least 2, and batch_size at least twice it.")
    if not 0 <= settings.unfreeze <= MAX_UNFREEZE:
        raise InvalidInput(
            f"unfreeze must be from 0 (head only) to {MAX_UNFREEZE} (the blocks at 14x14 "
            "and 7x7: earlier ones would need their large inputs kept for every image)."
        )
    if settings.learning_rate <= 0 or settings.temperature < 0.01:
        raise InvalidInput("learning_rate must be positive and temperature at least 0.01.")
    check_fraction(settings.validation)
    return groups.astype(np.int64)


def _pk_batches(
    groups: np.ndarray, batch_size: int, per_group: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Positions into ``groups`` as batches of whole chunks of up to ``per_group`` rows of
    one group; a group's odd row left over joins its last chunk, and groups of a single
    row are left out (they have nothing to be pulled towards)."""
    chunks: list[np.ndarray] = []
    for group in np.unique(groups):
        rows = rng.permutation(np.flatnonzero(groups == group))
        if len(rows) < 2:
            continue
        cuts = list(range(per_group, len(rows), per_group))
        parts = np.split(rows, cuts)
        if len(parts) > 1 and len(parts[-1]) < 2:  # no lonely row: join the one before
            lonely = parts.pop()
            parts[-1] = np.concatenate([parts[-1], lonely])
        chunks += parts
    order = rng.permutation(len(chunks))
    batch: list[np.ndarray] = []
    size = 0
    for index in order:
        batch.append(chunks[index])
        size += len(chunks[index])
        if size >= batch_size:
            yield np.concatenate(batch)
            batch, size = [], 0
    if size >= 2 * per_group:
        yield np.concatenate(batch)


def _network() -> Any:
    """EfficientNet-Lite0 with every weight frozen (``_Tail`` unfreezes its part)."""
    from embedspace.encoders.efficientnet import torch_network

    network = torch_network("Training an image encoder")
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network


class _Tail:
    """The part of the network that trains: its last ``unfreeze`` blocks, the final
    convolution and the pooling (just the identity on pooled features when 0)."""

    @staticmethod
    def make(torch: Any, network: Any, unfreeze: int) -> Any:
        class Tail(torch.nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.unfreeze = unfreeze
                if unfreeze:
                    self.blocks = torch.nn.ModuleList(network._blocks[-unfreeze:])
                    self.conv, self.norm = network._conv_head, network._bn1
                    self.act = network._swish

            def forward(self, x: Any) -> Any:
                if not self.unfreeze:
                    return x
                for block in self.blocks:
                    x = block(x)
                return self.act(self.norm(self.conv(x))).mean((2, 3))

        tail = Tail()
        if unfreeze:
            for parameter in tail.parameters():
                parameter.requires_grad_(True)
        return tail


def _trunk(torch: Any, network: Any, unfreeze: int) -> Any:
    """The frozen part: pixels to the input of the trained blocks."""

    class Trunk(torch.nn.Module):  # type: ignore[misc]
        def forward(self, pixels: Any) -> Any:
            x = network._swish(network._bn0(network._conv_stem(pixels)))
            for block in network._blocks[: len(network._blocks) - unfreeze]:
                x = block(x)
            return x

    return Trunk().eval()


def _tail_inputs(
    torch: Any,
    network: Any,
    unfreeze: int,
    images: Sequence[Any],
    on_progress: ProgressCallback | None,
) -> np.ndarray:
    """What the trained part reads, for every image, computed once with onnxruntime: the
    pooled features (float32) or, when blocks are unfrozen, their input (float16)."""
    from embedspace.encoders.efficientnet import EfficientNetLite0

    if not unfreeze:
        encoder: Encoder = EfficientNetLite0()
        return encoder.encode_images(list(images), on_progress=on_progress)
    import tempfile

    import onnxruntime

    from embedspace.encoders.efficientnet import pixels
    from embedspace.io.images import load_image

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "trunk.onnx"
        export_onnx(torch, _trunk(torch, network, unfreeze), file, ("trunk",))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_count()
        session = onnxruntime.InferenceSession(
            str(file), options, providers=["CPUExecutionProvider"]
        )
        parts = []
        stage = f"Running the frozen blocks on {len(images):,} images"
        for start in range(0, len(images), _CHUNK):
            chunk = [
                load_image(image, min_side=224) if isinstance(image, str | Path) else image
                for image in images[start : start + _CHUNK]
            ]
            batch = np.stack([pixels(image.convert("RGB")) for image in chunk])
            parts.append(session.run(None, {INPUT: batch})[0].astype(np.float16))
            report(on_progress, stage, min(start + _CHUNK, len(images)), len(images))
    return np.concatenate(parts)


def _whole(torch: Any, network: Any, unfreeze: int, tail: Any, head: Any) -> Any:
    """Pixels to unit vectors: the trunk, the trained tail and the head, for export."""

    class Whole(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.trunk, self.tail, self.head = _trunk(torch, network, unfreeze), tail, head

        def forward(self, pixels: Any) -> Any:
            x = self.trunk(pixels)
            if not unfreeze:  # the trunk stops at the blocks: finish the frozen features
                x = network._swish(network._bn1(network._conv_head(x))).mean((2, 3))
            return torch.nn.functional.normalize(self.head(self.tail(x)), dim=1)

    return Whole().eval()


def _save(
    torch: Any,
    path: Path,
    whole: Any,
    config: dict[str, Any],
    sample: Sequence[Any],
    trained: np.ndarray,
) -> None:
    """Export the network and write the model folder atomically; on a few training images
    the exported graph must give the vectors training computed (``trained``)."""

    def fill(temp: Path) -> None:
        export_onnx(torch, whole, temp / MODEL_FILE, (OUTPUT,))
        (temp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        _check_export(TrainedImageEncoder(temp), sample, trained)

    write_atomically(path, fill, marker=CONFIG_FILE, kind=KIND)
    TrainedImageEncoder(path).config()  # read back what was written


def _check_export(
    exported: TrainedImageEncoder, sample: Sequence[Any], trained: np.ndarray
) -> None:
    got = exported.encode_images(list(sample))
    agreement = float(np.min(np.sum(trained * got, axis=1)))
    if not agreement >= 0.999:  # also NaN; fp16 inputs of unfrozen blocks cost ~1e-4
        raise EmbedspaceError(
            "The exported image encoder does not match the trained weights; please report "
            "this with your torch and onnxruntime versions."
        )
