"""Train Word2Vec (skip-gram or CBOW) on your own text with gensim, and save it in
embedspace's word-vector folder format, which loads as an encoder by path.

The corpus is streamed from disk once per epoch (never held in memory): one sentence or
paragraph per line, tokenised like GloVe (lower case, words and punctuation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedspace.config import cpu_count
from embedspace.encoders.word_vectors import (
    WordVectors,
    check_output_folder,
    from_path,
    save_folder,
    tokens,
)
from embedspace.errors import InvalidInput, MissingExtra


@dataclass(frozen=True)
class Word2VecSettings:
    """Hyper-parameters of ``train_word2vec`` (the CLI exposes each one)."""

    dim: int = 100
    window: int = 5
    min_count: int = 5
    epochs: int = 5
    skip_gram: bool = True
    negative: int = 5
    sample: float = 1e-3
    workers: int = 0  # 0: one per core; 1 makes runs bit-for-bit reproducible
    seed: int = 0


class _Corpus:
    """Re-iterable token lists from a text file (gensim reads it once per epoch)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[list[str]]:
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                words = tokens(line)
                for start in range(0, len(words), 10_000):  # gensim's sentence length cap
                    yield words[start : start + 10_000]


def train_word2vec(
    corpus: str | Path,
    output: str | Path,
    *,
    settings: Word2VecSettings | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> WordVectors:
    """Train on the text file ``corpus``; write the model folder ``output``; return it
    loaded. ``on_epoch(epoch, loss)`` is called after every epoch."""
    settings = settings or Word2VecSettings()
    path = Path(corpus)
    if not path.is_file():
        raise InvalidInput(f"No corpus file at {path}: give a text file, one sentence per line.")
    for name in ("dim", "window", "min_count", "epochs", "negative"):
        if getattr(settings, name) < 1:
            raise InvalidInput(f"{name} must be at least 1.")
    check_output_folder(Path(output))  # before training, not after
    try:
        from gensim.models import Word2Vec
        from gensim.models.callbacks import CallbackAny2Vec
    except ImportError:
        raise MissingExtra("Training Word2Vec", "words", "gensim") from None

    class Report(CallbackAny2Vec):  # type: ignore[misc]
        def __init__(self) -> None:
            self.epoch = 0
            self.previous = 0.0

        def on_epoch_end(self, model: Any) -> None:
            self.epoch += 1
            total = float(model.get_latest_training_loss())
            if on_epoch is not None:
                on_epoch(self.epoch, total - self.previous)
            self.previous = total

    stream = _Corpus(path)
    model = Word2Vec(
        vector_size=settings.dim,
        window=settings.window,
        min_count=settings.min_count,
        sg=1 if settings.skip_gram else 0,
        negative=settings.negative,
        sample=settings.sample,
        workers=settings.workers or cpu_count(),
        seed=settings.seed,
    )
    model.build_vocab(stream)
    if not model.wv.index_to_key:
        raise InvalidInput(
            f"{path} has no word that occurs {settings.min_count} times or more; lower "
            "--min-count or give more text."
        )
    model.train(
        stream,
        total_examples=model.corpus_count,
        epochs=settings.epochs,
        compute_loss=True,
        callbacks=[Report()],
    )
    words = list(model.wv.index_to_key)  # most frequent first
    counts = [int(model.wv.get_vecattr(w, "count")) for w in words]
    target = Path(output)
    save_folder(
        target,
        words,
        model.wv.vectors,
        counts=counts,
        extra={"trainer": "gensim Word2Vec", "settings": asdict(settings), "corpus": str(path)},
    )
    return from_path(target.resolve())
