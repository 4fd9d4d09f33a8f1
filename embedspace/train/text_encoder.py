"""Fine-tune a text encoder on your own pairs (``embedspace train text-encoder``).

The standard recipe for retrieval: start from ``minilm-l6``'s fp32 weights (or an earlier
trained folder), embed each query and its positive (mean pooling, unit length), and
minimise the cross-entropy of the right positive among all the batch's positives and hard
negatives (in-batch negatives, "multiple negatives ranking" loss, scale 20). Pairs whose
positives repeat (many questions with one answer, or sentences sharing a label) count as
right answers of each other, not as negatives. A held-out part of the queries scores each
epoch (mean reciprocal rank of the right answer among all positives); the best epoch is
kept (early stopping, and on Ctrl-C). The folder written loads as an encoder
(``trained_text``) and runs on onnxruntime in the same int8/fp32 recipes as ``minilm-l6``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.trained_text import CONFIG_FILE, FORMAT, read_config
from embedspace.encoders.trained_text import is_text_encoder_directory as is_trained
from embedspace.errors import InvalidInput
from embedspace.io.folders import check_replaceable, write_atomically
from embedspace.io.outputs import current_umask
from embedspace.progress import ProgressCallback
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

KIND = "a text encoder"
#: Files copied from the starting folder: tokenizer and sentence-transformers layout.
_COPIED = (
    "config.json",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)
_DOMAIN_SAMPLE = 256  # training texts kept to calibrate and check the int8 graph


@dataclass(frozen=True)
class TextEncoderSettings:
    """Hyper-parameters of ``train_text_encoder`` (the CLI exposes each one)."""

    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 1e-4
    scale: float = 20.0
    max_tokens: int = 128
    validation: float = 0.1
    patience: int = 2
    seed: int = 0


@dataclass(frozen=True)
class TextPairs:
    """Training examples: ``anchors[i]`` should land near ``positives[i]`` (and far from
    ``negatives[i]`` when given); rows of one ``group`` share their right answers."""

    anchors: list[str]
    positives: list[str]
    negatives: list[str | None]
    groups: np.ndarray
    #: Made from labelled sentences: every sentence is an anchor once, so held-out
    #: sentences are scored against all the others (not against one per label).
    labelled: bool = False


@dataclass(frozen=True)
class TextEncoderReport(TrainingReport):
    """``TrainingReport``, scored on held-out queries, with the pairs counted."""

    pairs: int
    validation_pairs: int


def pairs_from_examples(
    anchors: Sequence[str], positives: Sequence[str], negatives: Sequence[str | None] | None = None
) -> TextPairs:
    """Pairs of (query, positive[, negative]). Pairs linked by an identical query or an
    identical positive share a group (a question with two answers, an answer to several
    questions): the group's positives are right answers of each other, never negatives."""
    if len(anchors) != len(positives) or (negatives is not None and len(negatives) != len(anchors)):
        raise InvalidInput("Give as many positives (and negatives) as queries.")
    for number, text in enumerate([*anchors, *positives], 1):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"Pair {(number - 1) % len(anchors) + 1} has an empty text.")
    # Compared as the model sees them: it lower-cases every text.
    groups = _linked([a.strip().lower() for a in anchors], [p.strip().lower() for p in positives])
    negs: list[str | None] = list(negatives) if negatives is not None else [None] * len(anchors)
    return TextPairs(
        [a.strip() for a in anchors],
        [p.strip() for p in positives],
        [n.strip() if isinstance(n, str) and n.strip() else None for n in negs],
        groups,
    )


def pairs_from_labels(texts: Sequence[str], labels: Sequence[str], seed: int = 0) -> TextPairs:
    """Pairs from labelled sentences: each sentence with another of its label (labels
    with a single sentence cannot make a pair and are left out)."""
    if len(texts) != len(labels):
        raise InvalidInput(f"{len(texts)} sentences but {len(labels)} labels.")
    by_label: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_label.setdefault(str(label), []).append(row)
    rng = np.random.default_rng(seed)
    anchors, positives, groups = [], [], []
    for group, rows in enumerate(by_label.values()):
        if len(rows) < 2:
            continue
        for position, row in enumerate(rows):
            other = rows[(position + 1 + int(rng.integers(len(rows) - 1))) % len(rows)]
            anchors.append(texts[row])
            positives.append(texts[other])
            groups.append(group)
    if len(set(groups)) < 2:
        raise InvalidInput(
            "Training needs at least two labels with two or more sentences each "
            f"(found {len(by_label)} labels in {len(texts)} sentences)."
        )
    made = pairs_from_examples(anchors, positives)
    return TextPairs(
        made.anchors, made.positives, made.negatives, np.asarray(groups, np.int64), True
    )


def _linked(anchors: list[str], positives: list[str]) -> np.ndarray:
    """Group ids: pairs sharing a query or a positive are one group."""
    from embedspace.io.training_data import connected

    links = [("q:" + a, "p:" + p) for a, p in zip(anchors, positives, strict=True)]
    root = connected(links)
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(root("p:" + p), len(ids)) for p in positives], np.int64)


def train_text_encoder(
    pairs: TextPairs,
    output: str | Path,
    *,
    base: str = "minilm-l6",
    settings: TextEncoderSettings | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> TextEncoderReport:
    """Fine-tune ``base`` (``minilm-l6`` or a folder this function wrote) on ``pairs`` and
    save the model folder to ``output``; it loads with ``embedspace.encoders.get(path)``."""
    settings = settings or TextEncoderSettings()
    _check(pairs, settings)
    source = _base_folder(base)
    output = Path(output)
    check_replaceable(output, CONFIG_FILE, KIND)  # before minutes of work, not after
    torch = torch_module("Training a text encoder")
    torch.manual_seed(settings.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(cpu_count())
    started = time.perf_counter()
    try:
        model = _load(torch, source)
        tokenizer = _tokenizer(source, settings.max_tokens)
        # Labelled sentences: hold out sentences (each label keeps training); pairs: hold
        # out whole groups (their queries and answers are new to the model).
        train, valid = held_out(
            pairs.groups, settings.validation, settings.seed, whole_groups=not pairs.labelled
        )
        if pairs.labelled:  # a held-out sentence must not be trained on as a positive
            held = {pairs.anchors[i] for i in valid}
            train = np.array([i for i in train if pairs.positives[i] not in held], np.int64)
        if len(train) < 2:
            raise InvalidInput(
                f"Only {len(train)} pairs left to train on after holding out "
                f"{len(valid)}: lower --validation or give more pairs."
            )
        check = valid if len(valid) else train
        embed = _embedder(torch, model, tokenizer)

        def evaluate() -> float:
            with torch.no_grad():
                queries = embed([pairs.anchors[i] for i in check], 64).numpy()
                if pairs.labelled:  # held-out sentences against every sentence but itself
                    corpus = embed(pairs.anchors, 64).numpy()
                    return reciprocal_rank(
                        queries, pairs.groups[check], corpus, pairs.groups, skip=check
                    )
                rows = np.unique([p.lower() for p in pairs.positives], return_index=True)[1]
                corpus = embed([pairs.positives[i] for i in rows], 64).numpy()
            return reciprocal_rank(queries, pairs.groups[check], corpus, pairs.groups[rows])

        rng = np.random.default_rng(settings.seed)

        def batches(epoch: int) -> Iterator[Any]:
            order = rng.permutation(train)
            for start in range(0, len(order), settings.batch_size):
                rows = order[start : start + settings.batch_size]
                if len(rows) >= 2:
                    yield _batch_loss(torch, embed, pairs, rows, settings.scale)

        steps = sum(1 for s in range(0, len(train), settings.batch_size) if len(train) - s >= 2)
        outcome = fit_loop(
            torch,
            model,
            batches,
            steps,
            evaluate,
            epochs=settings.epochs,
            patience=settings.patience,
            learning_rate=settings.learning_rate,
            on_epoch=on_epoch,
            on_progress=on_progress,
            stage="Training the text encoder",
        )
        seconds = time.perf_counter() - started
        config = {
            "format": FORMAT,
            "version": 1,
            "training_id": uuid.uuid4().hex,
            "base": base if not is_trained(Path(base).expanduser()) else str(source),
            "dim": int(model.config.hidden_size),
            "max_tokens": 256,
            "settings": asdict(settings),
            "pairs": len(pairs.anchors),
            "validation_pairs": int(len(valid)),
            **outcome.summary(seconds),
        }
        sample = _domain_sample(pairs, settings.seed)
        _save(output, source, model, config, sample)
    finally:
        torch.set_num_threads(threads)
    return TextEncoderReport(
        path=output,
        pairs=len(pairs.anchors),
        validation_pairs=int(len(valid)),
        **outcome.fields(seconds),
    )


def _check(pairs: TextPairs, settings: TextEncoderSettings) -> None:
    if len(pairs.anchors) < 8:
        raise InvalidInput(
            f"Only {len(pairs.anchors)} pairs: training needs at least 8 (ideally 1,000+)."
        )
    if len(np.unique(pairs.groups)) < 2:
        raise InvalidInput("Every pair has the same positive: give pairs with different answers.")
    for name in ("epochs", "batch_size", "max_tokens", "patience"):
        if getattr(settings, name) < 1:
            raise InvalidInput(f"{name} must be at least 1.")
    if settings.batch_size < 2:
        raise InvalidInput("batch_size must be at least 2 (the other pairs are the negatives).")
    if settings.learning_rate <= 0 or settings.scale <= 0:
        raise InvalidInput("learning_rate and scale must be positive.")
    check_fraction(settings.validation)


def _base_folder(base: str) -> Path:
    if base in ("minilm-l6", "minilm-l6-fp32", "all-MiniLM-L6-v2"):
        from embedspace.encoders.minilm import model_dir

        return model_dir()
    path = Path(base).expanduser().resolve()
    if is_trained(path):
        read_config(path)
        return path
    raise InvalidInput(
        f"Cannot fine-tune '{base}': start from minilm-l6 or a folder written by "
        "'embedspace train text-encoder'."
    )


def _load(torch: Any, folder: Path) -> Any:
    """A transformers ``BertModel`` with the folder's weights (built from its config and
    loaded directly: no hub, no pooler)."""
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    config = BertConfig.from_json_file(str(folder / "config.json"))
    model = BertModel(config, add_pooling_layer=False)
    weights = load_file(str(folder / "model.safetensors"))
    wanted = model.state_dict()
    model.load_state_dict({k: v for k, v in weights.items() if k in wanted}, strict=True)
    return model


def _tokenizer(folder: Path, max_tokens: int) -> Any:
    from embedspace.encoders.bert_folder import wordpiece

    tokenizer = wordpiece(folder, max_tokens)
    tokenizer.enable_padding()
    return tokenizer


def _embedder(torch: Any, model: Any, tokenizer: Any) -> Any:
    def embed(texts: list[str], chunk: int = 0) -> Any:
        if chunk:
            return torch.cat([embed(texts[s : s + chunk]) for s in range(0, len(texts), chunk)])
        encodings = tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings])
        mask = torch.tensor([e.attention_mask for e in encodings])
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1)

    return embed


def _batch_loss(torch: Any, embed: Any, pairs: TextPairs, rows: np.ndarray, scale: float) -> Any:
    negatives = [pairs.negatives[i] for i in rows if pairs.negatives[i] is not None]
    # Each side padded to its own longest text: queries are often much shorter than answers.
    anchors = embed([pairs.anchors[i] for i in rows])
    sides = [embed([pairs.positives[i] for i in rows])] + ([embed(negatives)] if negatives else [])
    candidates = torch.cat(sides)
    groups = torch.from_numpy(pairs.groups[rows])
    columns = torch.cat([groups, torch.full((len(negatives),), -1, dtype=groups.dtype)])
    return grouped_loss(torch, scale * anchors @ candidates.T, groups, columns)


def _domain_sample(pairs: TextPairs, seed: int) -> list[str]:
    texts = list(dict.fromkeys(t.replace("\n", " ") for t in [*pairs.anchors, *pairs.positives]))
    rng = np.random.default_rng(seed)
    return [texts[i] for i in sorted(rng.permutation(len(texts))[:_DOMAIN_SAMPLE])]


def _save(path: Path, source: Path, model: Any, config: dict[str, Any], sample: list[str]) -> None:
    """Write the model folder atomically: a temporary sibling, then a rename."""
    from safetensors.torch import save_file

    from embedspace.encoders.bert_folder import DOMAIN_TEXTS

    def fill(temp: Path) -> None:
        from safetensors.torch import load_file

        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        # The starting folder's pooler, unused by mean pooling, keeps the folder loadable
        # by sentence-transformers without "newly initialized" warnings.
        state |= {
            k: v
            for k, v in load_file(str(source / "model.safetensors")).items()
            if k.startswith("pooler.")
        }
        file = temp / "model.safetensors"
        save_file(state, str(file))
        os.chmod(file, 0o666 & ~current_umask())  # safetensors writes 0600
        for name in _COPIED:
            if (source / name).is_file():
                (temp / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, temp / name)
        (temp / DOMAIN_TEXTS).write_text("\n".join(sample) + "\n", encoding="utf-8")
        (temp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    write_atomically(path, fill, marker=CONFIG_FILE, kind=KIND)
    read_config(path)  # read back what was written
