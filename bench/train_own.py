"""Train your own: what fine-tuning on your data buys, against the frozen starting encoder
on held-out data, in the same run.

1. Reverse image search precision@10 by class on Fashion-MNIST test images (a seeded
   sample): raw pixels (784-d, cosine), frozen efficientnet-lite0 features, and encoders
   trained by ``train_image_encoder`` on a seeded sample of the training split, head only
   (``--unfreeze 0``) and with the last blocks fine-tuned (``--unfreeze 2``).
2. Question -> answer retrieval nDCG@10 on chatterbot-corpus, split by question
   (examples/make_training_data.py: half the questions train, the other half test, every
   answer is the corpus): minilm-l6 against the encoder ``train_text_encoder`` fine-tunes
   from it on the training half, both in the int8/fp32 recipe chosen for this CPU.

Training times are wall-clock on this machine (feature extraction included).

    .venv/bin/python -m bench.train_own [--train 5000] [--test 2000] [--unfreeze 0,2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine
from bench.fashion import CLASSES, as_pil, sample
from bench.images import _precision_at_10
from examples.make_training_data import faq_split


def images(train: int, test: int, unfreezes: list[int], scratch: Path) -> None:
    import embedspace as es
    from embedspace.train.image_encoder import ImageEncoderSettings, train_image_encoder

    test_images, test_labels = sample("t10k", test, 1)
    train_images, train_labels = sample("train", train, 0)
    test_pil, train_pil = as_pil(test_images), as_pil(train_images)
    rows = [
        (
            "raw pixels, cosine",
            _precision_at_10(
                test_images.reshape(len(test_images), -1).astype(np.float32), test_labels
            ),
            "—",
        )
    ]
    frozen = es.encoders.get("efficientnet-lite0").encode_images(test_pil)
    rows.append(
        ("efficientnet-lite0, frozen (the start)", _precision_at_10(frozen, test_labels), "—")
    )
    for unfreeze in unfreezes:
        started = time.perf_counter()
        report = train_image_encoder(
            train_pil,
            [CLASSES[i] for i in train_labels],
            scratch / f"clothes-{unfreeze}",
            settings=ImageEncoderSettings(unfreeze=unfreeze),
        )
        seconds = time.perf_counter() - started
        vectors = es.encoders.get(str(scratch / f"clothes-{unfreeze}")).encode_images(test_pil)
        what = "head only" if unfreeze == 0 else f"head + last {unfreeze} blocks"
        rows.append(
            (
                f"trained: {what} (best epoch {report.best_epoch} of {report.epochs_run})",
                _precision_at_10(vectors, test_labels),
                f"{seconds:.0f} s",
            )
        )
    print(f"\n### Fashion-MNIST reverse image search: {test} test images, trained on {train}\n")
    print("| encoder | P@10 by class | training time |")
    print("|---|---|---|")
    for name, score, seconds in rows:
        print(f"| {name} | {score:.3f} | {seconds} |")


def texts(epochs: int, scratch: Path) -> None:
    import embedspace as es
    from embedspace.ops.search_eval import ndcg
    from embedspace.train.text_encoder import (
        TextEncoderSettings,
        pairs_from_examples,
        train_text_encoder,
    )

    train, answers, queries, qrels = faq_split()
    ids = sorted(answers)
    judged = sorted(queries)

    def score(encoder: str) -> tuple[float, float]:
        model = es.encoders.get(encoder)
        corpus = model.encode([answers[i] for i in ids])
        asked = model.encode([queries[q] for q in judged])
        top = np.argsort(-(asked @ corpus.T), axis=1)[:, :10]
        found = [[ids[j] for j in row] for row in top]
        values = [
            ndcg(f, dict.fromkeys(qrels[q], 1.0), 10) for f, q in zip(found, judged, strict=True)
        ]
        first = [
            next((1 / (r + 1) for r, d in enumerate(f) if d in qrels[q]), 0.0)
            for f, q in zip(found, judged, strict=True)
        ]
        return float(np.mean(values)), float(np.mean(first))

    rows = [("minilm-l6 (the start)", *score("minilm-l6"), "—", "")]
    started = time.perf_counter()
    report = train_text_encoder(
        pairs_from_examples([a for a, _ in train], [p for _, p in train]),
        scratch / "my-faq",
        settings=TextEncoderSettings(epochs=epochs),
    )
    seconds = time.perf_counter() - started
    trained = es.encoders.get(str(scratch / "my-faq"))
    rows.append(
        (
            f"fine-tuned on {len(train)} pairs (best epoch {report.best_epoch} of {report.epochs_run})",
            *score(str(scratch / "my-faq")),
            f"{seconds:.0f} s",
            trained.recipe_note(),
        )
    )
    print(
        f"\n### chatterbot question -> answer: {len(judged)} held-out questions, {len(ids)} answers\n"
    )
    print("| encoder | nDCG@10 | MRR@10 | training time | recipe |")
    print("|---|---|---|---|---|")
    for name, value, mrr, took, recipe in rows:
        print(f"| {name} | {value:.4f} | {mrr:.4f} | {took} | {recipe} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=5000, help="Fashion-MNIST training images")
    parser.add_argument("--test", type=int, default=2000, help="Fashion-MNIST test images")
    parser.add_argument("--unfreeze", default="0,2", help="image runs, comma-separated")
    parser.add_argument("--text-epochs", type=int, default=4)
    parser.add_argument("--only", choices=["images", "texts"])
    args = parser.parse_args()
    print(f"# Train your own — {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        if args.only != "texts":
            images(args.train, args.test, [int(u) for u in args.unfreeze.split(",")], Path(folder))
        if args.only != "images":
            texts(args.text_epochs, Path(folder))


if __name__ == "__main__":
    main()
