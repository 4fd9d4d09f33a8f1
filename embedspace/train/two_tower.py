"""Train a two-tower recommender on your own interactions (PyTorch, CPU).

User tower and item tower (see ``embedspace.encoders.two_tower`` for their inputs) are
trained so that a user's vector lands near the items they chose: in-batch softmax over the
batch's items with the sampling-bias (logQ) correction of Yi et al. (2019), optional extra
uniformly sampled negatives, a fixed temperature, repeated items in a batch masked (not
counted as negatives). Ids are dropped to "unknown" with a small probability, so the
towers also learn to work from features alone (cold start). The user tower can also see
the mean embedding of the user's other items (``history``).

Early stopping watches Recall@k on a validation split (each user's last training
interaction); then, with ``refit``, the model is trained again from scratch on all the
training data for the best number of epochs, so that it also learns from those most recent
interactions (as the baselines do). The test split is never used for training or model
choice; the evaluation at the end compares the model with the baselines on it.

Torch runs on one thread while training (and gets back its previous setting after): the
towers' operations are small (a batch of 512 through two narrow MLPs, hundreds of
operations a step), so on a 2-core machine a second thread saved nothing measurable when
the machine was idle and made each step 7-10 times slower when the other core was busy,
every operation waiting for both threads (MovieLens-100K: 14 ms a step on one thread,
110-400 ms on two). The second core, when free, trains the refit model instead (see
``two_tower_fit``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.encoders.two_tower import (
    CONFIG_FILE,
    FORMAT,
    SEEN_ITEMS_FILE,
    SEEN_OFFSETS_FILE,
    VERSION,
    WEIGHTS_FILE,
    feature_arrays,
    infer_specs,
)
from embedspace.errors import InvalidInput
from embedspace.io.interactions import Interactions
from embedspace.progress import ProgressCallback, report
from embedspace.train.fitting import torch_module
from embedspace.train.histories import Histories, chosen_rows
from embedspace.train.recs_eval import (
    Catalogue,
    Report,
    baseline_reports,
    held_out,
    score,
    split,
)
from embedspace.train.two_tower_fit import (
    EpochCallback,
    Side,
    Towers,
    dot_scorer,
    fit_towers,
    tower_vectors,
)
from embedspace.train.two_tower_settings import TwoTowerSettings as TwoTowerSettings

KIND = "a two-tower model"
#: Torch threads while training (see the module docstring).
TRAINING_THREADS = 1


@dataclass(frozen=True)
class TwoTowerReport:
    """What training did and how every recommender scored on the test split."""

    path: Path
    best_epoch: int
    epochs_run: int
    validation_recall: float
    seconds: float
    reports: list[Report]


def _side(
    ids: list[str],
    table: Mapping[str, Mapping[str, Any]] | None,
    kinds: Mapping[str, str] | None,
    text_encoder: str,
    encoders: dict[str, Encoder],
) -> Side:
    if not table:
        return Side([], feature_arrays([], [None] * (len(ids) + 1)))
    specs = infer_specs(table, text_encoder=text_encoder, kinds=kinds)
    rows = [None, *(table.get(i) for i in ids)]
    return Side(specs, feature_arrays(specs, rows, encoders))


@dataclass
class TrainedTwoTower:
    """A fitted two-tower model before it is saved: its config, weights (with every user's
    and item's vector), the items each user chose, and how it scored."""

    config: dict[str, Any]
    weights: dict[str, np.ndarray]
    seen: tuple[np.ndarray, np.ndarray]
    catalogue: Catalogue
    best_epoch: int
    epochs_run: int
    validation_recall: float
    seconds: float
    reports: list[Report]

    @property
    def item_vectors(self) -> np.ndarray:
        """Every item's vector, in catalogue order."""
        return self.weights["item_vectors"]

    def write_files(self, folder: Path) -> None:
        """Write the weights, the seen items and the config into ``folder`` (the model's
        item Space is written by the application that saves the model)."""
        from safetensors.numpy import save_file

        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.weights.items()},
            str(folder / WEIGHTS_FILE),
        )
        np.save(folder / SEEN_OFFSETS_FILE, self.seen[0], allow_pickle=False)
        np.save(folder / SEEN_ITEMS_FILE, self.seen[1], allow_pickle=False)
        (folder / CONFIG_FILE).write_text(json.dumps(self.config) + "\n", encoding="utf-8")


def fit_two_tower(
    interactions: Interactions,
    *,
    user_features: Mapping[str, Mapping[str, Any]] | None = None,
    item_features: Mapping[str, Mapping[str, Any]] | None = None,
    user_kinds: Mapping[str, str] | None = None,
    item_kinds: Mapping[str, str] | None = None,
    text_encoder: str = "minilm-l6",
    settings: TwoTowerSettings | None = None,
    baselines: bool = True,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> TrainedTwoTower:
    """Split, train with early stopping (and refit), and evaluate against the baselines;
    nothing is written (``embedspace.ops.recommend.train_two_tower`` trains and saves).

    ``on_epoch(TrainingEpoch)`` is called after every epoch; ``on_progress(stage, done,
    total)`` as each stage (features, training, refit, evaluation) advances.
    """
    settings = settings or TwoTowerSettings()
    check_settings(settings)
    started = time.perf_counter()
    train_all, test = split(interactions, settings.split, settings.test_fraction)
    fit, valid = split(train_all, "leave-last-out")
    catalogue = Catalogue.of(train_all)
    encoders: dict[str, Encoder] = {}
    report(on_progress, "Preparing user and item features", 0, 2)
    users = _side(catalogue.users, user_features, user_kinds, text_encoder, encoders)
    report(on_progress, "Preparing user and item features", 1, 2)
    items = _side(catalogue.items, item_features, item_kinds, text_encoder, encoders)
    report(on_progress, "Preparing user and item features", 2, 2)
    towers = Towers(catalogue, users, items, settings)
    with _torch_threads(TRAINING_THREADS):
        fitted = fit_towers(
            towers,
            fit,
            valid,
            train_all,
            started=started,
            on_epoch=on_epoch,
            on_progress=on_progress,
        )
    weights = fitted.weights
    histories = Histories.of(catalogue, train_all)
    user_vectors, item_vectors = tower_vectors(weights, users, items, histories, settings)
    weights["user_vectors"], weights["item_vectors"] = user_vectors, item_vectors
    reports = _evaluate(catalogue, train_all, test, user_vectors, item_vectors, settings)
    if baselines:
        report(on_progress, "Evaluating the baselines on the test split", 0, None)
        reports.extend(baseline_reports(catalogue, train_all, test, settings.k, settings.seed))
    seconds = time.perf_counter() - started
    config = {
        "format": FORMAT,
        "version": VERSION,
        "users": catalogue.users,
        "items": catalogue.items,
        "user_features": [s.to_json() for s in users.specs],
        "item_features": [s.to_json() for s in items.specs],
        "settings": asdict(settings),
        "best_epoch": fitted.best_epoch,
        "epochs_run": fitted.epochs_run,
        "validation_recall": round(fitted.validation_recall, 6),
        "seconds": round(seconds, 3),
        "evaluation": [asdict(r) for r in reports],
    }
    seen = chosen_rows(catalogue, interactions)  # the whole file: the test split too
    return TrainedTwoTower(
        config,
        weights,
        seen,
        catalogue,
        fitted.best_epoch,
        fitted.epochs_run,
        fitted.validation_recall,
        seconds,
        reports,
    )


def _evaluate(
    catalogue: Catalogue,
    train: Interactions,
    test: Interactions,
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    settings: TwoTowerSettings,
) -> list[Report]:
    """The two-tower model's report on the test split."""
    scorer = dot_scorer(user_vectors, item_vectors)
    return [score("two-tower", scorer, held_out(catalogue, train, test), settings.k)]


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` threads inside the block; the previous number after it."""
    torch = torch_module("Training a two-tower model")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_settings(settings: TwoTowerSettings) -> None:
    """Raise ``InvalidInput`` for settings that cannot train."""
    for name in ("dim", "id_dim", "hidden", "epochs", "batch_size", "patience", "k"):
        if getattr(settings, name) < 1:
            raise InvalidInput(f"{name} must be at least 1.")
    if settings.batch_size < 2:
        raise InvalidInput("batch_size must be at least 2 (the batch holds the negatives).")
    if settings.negatives < 0 or not 0 <= settings.id_dropout < 1:
        raise InvalidInput("negatives must be >= 0 and id_dropout in [0, 1).")
    if settings.learning_rate <= 0 or settings.temperature <= 0:
        raise InvalidInput("learning_rate and temperature must be positive.")
