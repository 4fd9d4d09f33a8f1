"""The epochs of two-tower training: early stopping on the validation split and the refit.

The refit (``settings.refit``) is a second model trained from scratch, with the same seed,
on all the training data, for the number of epochs early stopping chose. Neither model
influences the other, so when two cores are free the refit model is trained alongside the
early-stopped one, an epoch of each at a time, and its state is kept at the best epoch
(the same weights as training it afterwards, in about half the time); on one core it is
trained afterwards. Each model runs torch on one thread (see ``two_tower``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.encoders.two_tower import FeatureArrays, tower_forward
from embedspace.io.interactions import Interactions
from embedspace.progress import ProgressCallback, report
from embedspace.train.histories import Histories
from embedspace.train.recs_eval import Catalogue, HeldOut, held_out, score
from embedspace.train.two_tower_settings import TwoTowerSettings


@dataclass(frozen=True)
class TrainingEpoch:
    """One finished epoch, as passed to ``on_epoch``. ``stage`` is ``"training"`` (with
    early stopping on the validation split) or ``"refit"`` (all training data, for the
    chosen number of epochs; reported only when it runs after the training)."""

    stage: str
    epoch: int
    epochs: int  # the most this stage runs
    loss: float  # mean training loss of the epoch
    validation_recall: float | None  # Recall@k on the validation split; None in the refit
    seconds: float  # since training began


EpochCallback = Callable[[TrainingEpoch], None]


@dataclass
class Side:
    """One tower's data: feature specs and arrays for index 0 (unknown) and 1..n."""

    specs: list[Any]
    arrays: FeatureArrays


@dataclass(frozen=True)
class Fitted:
    """What training chose: the weights to serve, and how it got them."""

    weights: dict[str, np.ndarray]
    best_epoch: int
    epochs_run: int
    validation_recall: float


@dataclass(frozen=True)
class Towers:
    """Everything the fits of one training run share."""

    catalogue: Catalogue
    users: Side
    items: Side
    settings: TwoTowerSettings


def fit_towers(
    towers: Towers,
    fit: Interactions,
    valid: Interactions,
    train_all: Interactions,
    *,
    started: float,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> Fitted:
    """Train on ``fit`` until Recall@k on ``valid`` stops improving; with the refit, return
    the weights of a model trained on ``train_all`` for the best number of epochs."""
    settings = towers.settings
    main = _Trainer(towers, fit)
    refit = _Trainer(towers, train_all) if settings.refit else None
    beside = refit if refit is not None and _free_cores() >= 2 else None
    checked = held_out(towers.catalogue, fit, valid)
    title = f"Training two-tower (validation Recall@{settings.k})"
    empty: dict[str, np.ndarray] = {}
    best = (float("nan"), 0, empty, empty)
    epochs_run = 0
    report(on_progress, title, 0, settings.epochs)
    with ThreadPoolExecutor(
        1, "two-tower-refit", initializer=_same_threads, initargs=(_torch_threads(),)
    ) as pool:
        for epoch in range(1, settings.epochs + 1):
            pending: Future[float] | None = None if beside is None else pool.submit(beside.epoch)
            loss = main.epoch()
            state = main.state()
            recall = main.recall(state, checked)
            if pending is not None:
                pending.result()
            epochs_run = epoch
            improved = not recall <= best[0] + 1e-6  # the first epoch always is
            if improved:
                best = (recall, epoch, state, empty if beside is None else beside.state())
            seconds = time.perf_counter() - started
            if on_epoch is not None:
                on_epoch(TrainingEpoch("training", epoch, settings.epochs, loss, recall, seconds))
            report(on_progress, title, epoch, settings.epochs)
            if not improved and epoch - best[1] >= settings.patience:
                break
    recall, best_epoch, weights, refit_weights = best
    if refit is not None and beside is None:
        refit_weights = _refit_after(refit, best_epoch, started, on_epoch, on_progress)
    return Fitted(refit_weights if refit is not None else weights, best_epoch, epochs_run, recall)


def _refit_after(
    refit: _Trainer,
    epochs: int,
    started: float,
    on_epoch: EpochCallback | None,
    on_progress: ProgressCallback | None,
) -> dict[str, np.ndarray]:
    """Train the refit model for ``epochs`` epochs (when it could not run alongside)."""
    title = "Refitting on all training data"
    report(on_progress, title, 0, epochs)
    for epoch in range(1, epochs + 1):
        loss = refit.epoch()
        if on_epoch is not None:
            seconds = time.perf_counter() - started
            on_epoch(TrainingEpoch("refit", epoch, epochs, loss, None, seconds))
        report(on_progress, title, epoch, epochs)
    return refit.state()


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _same_threads(count: int) -> None:
    """Run the worker thread's torch operations on ``count`` threads, like the caller's."""
    import torch

    torch.set_num_threads(count)


def _free_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Trainer:
    """One model being trained from scratch on one set of interactions, an epoch at a
    time; seeded, so the same data and settings give the same weights."""

    def __init__(self, towers: Towers, data: Interactions) -> None:
        import torch

        from embedspace.train.two_tower_net import TwoTowerNet

        settings, catalogue = towers.settings, towers.catalogue
        self.towers, self.size = towers, len(data)
        torch.manual_seed(settings.seed)
        self.rng = np.random.default_rng(settings.seed)
        self.user_rows = catalogue.user_rows(data.users) + 1
        self.item_rows = catalogue.item_rows(data.items) + 1
        self.weights = (
            np.ones(len(data), np.float32)
            if data.weights is None
            else (data.weights / data.weights.mean()).astype(np.float32)
        )
        n_items = len(catalogue.items)
        counts = np.bincount(self.item_rows, minlength=n_items + 1).astype(np.float64)
        self.log_q = np.log(np.maximum(counts, 1) / counts.sum()).astype(np.float32)
        self.histories = Histories.of(catalogue, data)
        self.net = TwoTowerNet(
            towers.users, towers.items, len(catalogue.users) + 1, n_items + 1, settings
        )
        self.optimiser = torch.optim.AdamW(
            self.net.parameters(),
            lr=settings.learning_rate,
            weight_decay=settings.weight_decay,
            fused=True,  # one kernel for all parameters: a step costs 0.7 ms instead of 1.6
        )

    def epoch(self) -> float:
        """Train one epoch; its mean loss."""
        batch_size = self.towers.settings.batch_size
        self.net.train()
        order = self.rng.permutation(self.size)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2:
                continue
            self.optimiser.zero_grad()
            loss = self.net.loss(
                self.user_rows[batch],
                self.item_rows[batch],
                self.weights[batch],
                self.histories,
                self.log_q,
                self.rng,
            )
            loss.backward()
            self.optimiser.step()
            total += float(loss.detach()) * len(batch)
        return total / self.size

    def state(self) -> dict[str, np.ndarray]:
        """A copy of the weights, as ``tower_forward`` reads them."""
        return self.net.numpy_weights()

    def recall(self, state: Mapping[str, np.ndarray], checked: HeldOut) -> float:
        """Recall@k of ``state`` on a prepared validation split."""
        towers = self.towers
        vectors = tower_vectors(state, towers.users, towers.items, self.histories, towers.settings)
        return float(score("validation", dot_scorer(*vectors), checked, towers.settings.k).recall)


def dot_scorer(
    user_vectors: np.ndarray, item_vectors: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """Scores of every item for user rows: dot products of the vectors."""
    return lambda rows: user_vectors[rows] @ item_vectors.T


def tower_vectors(
    weights: Mapping[str, np.ndarray],
    users: Side,
    items: Side,
    histories: Histories,
    settings: TwoTowerSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of every known user and item (0-based rows), in numpy, as served."""
    user_arrays = FeatureArrays(
        users.arrays.categorical[1:], users.arrays.numeric[1:], users.arrays.text[1:]
    )
    item_arrays = FeatureArrays(
        items.arrays.categorical[1:], items.arrays.numeric[1:], items.arrays.text[1:]
    )
    user_ids = np.arange(1, len(user_arrays.categorical) + 1)
    item_ids = np.arange(1, len(item_arrays.categorical) + 1)
    history = histories.lists()[1:] if settings.history else None
    user_vectors = tower_forward(weights, "user", user_ids, user_arrays, history)
    item_vectors = tower_forward(weights, "item", item_ids, item_arrays)
    return user_vectors, item_vectors
