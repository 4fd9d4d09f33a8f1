"""Fit a static encoder to the user's own texts: minilm-static's recipe with the map learned
on those texts instead of on Wikipedia (``encoders.static`` says how the map works).

The teacher (minilm-l6, this CPU's recipe) embeds the texts; MiniLM's vocabulary tokens are
embedded one by one as minilm-static distils them (fp32); ``static.fit_map`` learns where MiniLM
puts a text from the mean of its tokens. The folder written holds the whole table, so
using it needs neither the teacher nor the fit. Some texts are held out: the report says
how many of their nearest neighbours (among themselves) the fitted table finds where the
teacher does, next to the shipped minilm-static, so the fit can be judged before use.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders import static
from embedspace.encoders.static_folder import (
    CONFIG_FILE,
    FORMAT,
    MAP_FILE,
    TABLE_FILE,
    read_config,
)
from embedspace.errors import InvalidInput
from embedspace.io.folders import check_replaceable, write_atomically
from embedspace.progress import ProgressCallback, report

KIND = "a static encoder folder"
MIN_TEXTS = 500  # the map has 384 rows to learn: fewer texts than that cannot fix it
HOLD_OUT = 0.1  # of the texts, at most MAX_HELD_OUT, when there are at least VALIDATE_FROM
MAX_HELD_OUT = 2000
VALIDATE_FROM = 1000
NEIGHBOURS = 10
# The map has 98,304 numbers: 19,000 sentences fit it as well as halves of them (RESULTS
# §27); more than this many texts only make the teacher's pass longer.
MAX_TEXTS = 200_000


@dataclass(frozen=True)
class StaticFitReport:
    """What a fit made: the folder, the distinct texts given, those it learned from (at
    most ``MAX_TEXTS``) and held out,
    and, when texts were held out, the share of their ``NEIGHBOURS`` nearest neighbours
    the fitted table and the shipped minilm-static find where the teacher does."""

    path: Path
    given: int
    texts: int
    held_out: int
    dims: int
    agreement: float | None
    shipped_agreement: float | None
    seconds: float


def fit_static_encoder(
    texts: Sequence[str],
    output: str | Path,
    *,
    dims: int = static.DIMS,
    teacher: Any = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> StaticFitReport:
    """Fit a static encoder to ``texts`` and save it to the folder ``output`` (new, or an
    earlier static encoder folder, replaced atomically). ``teacher``: an ONNX text encoder
    of MiniLM (default: ``minilm-l6``, this CPU's recipe)."""
    started = time.perf_counter()
    path = Path(output)
    check_replaceable(path, CONFIG_FILE, KIND)
    distinct = list(dict.fromkeys(t.strip() for t in texts if t and t.strip()))
    if len(distinct) < MIN_TEXTS:
        raise InvalidInput(
            f"A static encoder needs at least {MIN_TEXTS:,} distinct texts to fit (got "
            f"{len(distinct):,}); 5,000 or more fit better. Give more texts, or use "
            "minilm-static as it ships."
        )
    if not 8 <= dims <= 384:
        raise InvalidInput(f"dims must be between 8 and 384 (got {dims}).")
    token_teacher = teacher
    if teacher is None:  # texts with this CPU's recipe (fast); tokens as minilm-static does
        from embedspace.encoders.minilm import minilm_l6_fp32
        from embedspace.encoders.registry import get

        teacher, token_teacher = get("minilm-l6"), minilm_l6_fp32()
    fitting, held = _split(distinct, seed)
    report(on_progress, f"Embedding {len(fitting):,} texts with {teacher.name}", 0, None)
    targets = teacher.encode(fitting, on_progress=on_progress)
    stage = "Embedding the vocabulary's tokens"
    weighted = static.weighted_tokens(static.token_vectors(token_teacher, on_progress, stage))
    from embedspace.encoders.minilm import plain_tokenizer

    tokenizer = plain_tokenizer()

    # The teacher reads a text's first max_tokens tokens ([CLS] and [SEP] among them): the
    # means it is fitted against are of those tokens too.
    window = teacher.max_tokens - 2 if teacher.max_tokens else None

    def pooled(table: np.ndarray, batch: list[str]) -> np.ndarray:
        """``batch`` as means of ``table`` rows, a chunk at a time (a chunk's token rows
        are gathered at once)."""
        return np.concatenate(
            [
                static.mean_rows(
                    table, [e.ids[:window] for e in tokenizer.encode_batch(batch[i : i + 4096])]
                )
                for i in range(0, len(batch), 4096)
            ]
        )

    report(on_progress, "Fitting the map", 0, None)
    mapping = static.fit_map(pooled(weighted, fitting), targets, dims)
    table = (weighted @ mapping).astype(np.float32)
    agreement = shipped = None
    if held:
        truth = _neighbours(teacher.encode(held))
        agreement = _shared(truth, _neighbours(pooled(table, held)))
        shipped = _shared(truth, _neighbours(pooled(weighted @ static.shipped_map(), held)))
    config = {
        "format": FORMAT,
        "dim": dims,
        "teacher": teacher.name,
        "teacher_recipe": teacher.runtime_recipe(),
        "texts": len(fitting),
        "held_out": len(held),
        "agreement": agreement,
        "shipped_agreement": shipped,
        "recipe": static.RECIPE,
        # from the table itself: fitting the same texts again makes the same encoder, whose
        # spaces stay usable; any other fit is another basis, and its spaces are refused
        "training_id": hashlib.sha256(table.astype(np.float16).tobytes()).hexdigest(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    def fill(temp: Path) -> None:
        np.save(temp / TABLE_FILE, table.astype(np.float16))
        np.save(temp / MAP_FILE, mapping)
        (temp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    write_atomically(path, fill, marker=CONFIG_FILE, kind=KIND)
    read_config(path)  # read back what was written
    seconds = time.perf_counter() - started
    return StaticFitReport(
        path, len(distinct), len(fitting), len(held), dims, agreement, shipped, seconds
    )


def _split(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(fitting, held out): a seeded random tenth (at most ``MAX_HELD_OUT``) held out once
    there are ``VALIDATE_FROM`` texts, none before; at most ``MAX_TEXTS`` fit (a seeded
    random sample of the rest, in their order)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    count = min(MAX_HELD_OUT, int(len(texts) * HOLD_OUT)) if len(texts) >= VALIDATE_FROM else 0
    held = np.sort(order[:count])
    fitting = np.sort(order[count : count + MAX_TEXTS])
    return [texts[i] for i in fitting], [texts[i] for i in held]


def _neighbours(vectors: np.ndarray) -> np.ndarray:
    """Each row's ``NEIGHBOURS`` nearest other rows by cosine (rows are unit length)."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    count = min(NEIGHBOURS, len(vectors) - 1)
    return np.argpartition(-similarity, count - 1, axis=1)[:, :count]


def _shared(truth: np.ndarray, found: np.ndarray) -> float:
    """The share of ``truth``'s neighbours that ``found`` also lists, over all rows."""
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(truth, found, strict=True))
    return hits / truth.size
