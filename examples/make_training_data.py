"""Write training data for ``embedspace train text-encoder`` and ``train image-encoder``
from data that installs offline (nothing is downloaded):

    .venv/bin/python examples/make_training_data.py faq faq-data
    -> faq-data/train-pairs.csv    (query, positive): questions and answers of half the
                                   chatterbot-corpus questions (the ``chatterbot-corpus``
                                   package, installed by ./install.sh)
       faq-data/answers.csv        (id, text): every answer, the corpus to search
       faq-data/test-queries.csv   (id, text): the other half of the questions
       faq-data/test-qrels.csv     (query_id, doc_id): their right answers

    .venv/bin/python examples/make_training_data.py fashion fashion-data --train 3000 --test 1000
    -> fashion-data/train/<class>/0000.png… and fashion-data/test/<class>/0000.png…: seeded samples
       of Fashion-MNIST's training and test images, one folder per class (Debian's
       ``dataset-fashion-mnist`` package: sudo apt-get install dataset-fashion-mnist)

The split is by question (no test question is trained on) and seeded, so every run, the
README and ``bench/train_own.py`` see the same data.
"""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


def chatterbot() -> list[tuple[str, str, str]]:
    """(category, question, answer) from chatterbot-corpus's English files, each pair once."""
    import chatterbot_corpus
    import yaml

    folder = Path(chatterbot_corpus.__file__).parent / "data" / "english"
    seen, rows = set(), []
    for file in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        for conversation in data.get("conversations", []):
            if len(conversation) < 2 or not all(isinstance(c, str) for c in conversation[:2]):
                continue
            question, answer = conversation[0].strip(), conversation[1].strip()
            if (question.lower(), answer) not in seen:
                seen.add((question.lower(), answer))
                rows.append((file.stem, question, answer))
    return rows


def faq_split(
    seed: int = 0,
) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str], dict[str, set[str]]]:
    """``(train pairs, answers by id, test questions by id, test qrels)``: half of the
    distinct questions (by a seeded shuffle) are for training, the rest for testing."""
    answers: dict[str, str] = {}
    by_question: dict[str, tuple[str, set[str]]] = {}
    for _, question, answer in chatterbot():
        doc = answers.setdefault(answer, f"a{len(answers)}")
        by_question.setdefault(question.lower(), (question, set()))[1].add(doc)
    keys = sorted(by_question)
    order = np.random.default_rng(seed).permutation(len(keys))
    half = len(keys) // 2
    text_of = {doc: text for text, doc in answers.items()}
    train = [
        (by_question[keys[i]][0], text_of[doc])
        for i in sorted(order[:half])
        for doc in sorted(by_question[keys[i]][1])
    ]
    queries = {f"q{i}": by_question[keys[i]][0] for i in sorted(order[half:])}
    qrels = {f"q{i}": by_question[keys[i]][1] for i in sorted(order[half:])}
    return train, text_of, queries, qrels


def write_faq(folder: Path) -> None:
    train, answers, queries, qrels = faq_split()
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "train-pairs.csv": (("query", "positive"), train),
        "answers.csv": (("id", "text"), sorted(answers.items())),
        "test-queries.csv": (("id", "text"), sorted(queries.items())),
        "test-qrels.csv": (
            ("query_id", "doc_id"),
            [(q, d) for q in sorted(qrels) for d in sorted(qrels[q])],
        ),
    }
    for name, (header, rows) in tables.items():
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    print(
        f"{folder}: {len(train)} training pairs, {len(answers)} answers, "
        f"{len(queries)} held-out questions"
    )


def fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 28, 28), labels (n,))`` of Fashion-MNIST's ``"train"`` or
    ``"t10k"`` split."""
    images_file = FASHION / f"{split}-images-idx3-ubyte.gz"
    if not images_file.exists():
        raise SystemExit(
            f"{images_file} is missing: install Debian's dataset-fashion-mnist "
            "(sudo apt-get install dataset-fashion-mnist)."
        )
    with gzip.open(images_file) as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / f"{split}-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def fashion_sample(split: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of a split (all of it when ``count`` reaches its size)."""
    images, labels = fashion(split)
    if count >= len(labels):
        return images, labels
    pick = np.random.default_rng(seed).choice(len(labels), count, replace=False)
    return images[pick], labels[pick]


def write_fashion(folder: Path, train: int, test: int) -> None:
    from PIL import Image

    for split, name, count, seed in (("train", "train", train, 0), ("t10k", "test", test, 1)):
        images, labels = fashion_sample(split, count, seed)
        numbers = dict.fromkeys(range(len(CLASSES)), 0)
        for image, label in zip(images, labels, strict=True):
            target = folder / name / CLASSES[label] / f"{numbers[int(label)]:04d}.png"
            numbers[int(label)] += 1
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, "L").save(target)
    print(f"{folder}: {train} training and {test} test images in {len(CLASSES)} class folders")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["faq", "fashion"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--train", type=int, default=3000, help="fashion: training images")
    parser.add_argument("--test", type=int, default=1000, help="fashion: test images")
    args = parser.parse_args()
    if args.kind == "faq":
        write_faq(args.folder)
    else:
        write_fashion(args.folder, args.train, args.test)


if __name__ == "__main__":
    main()
