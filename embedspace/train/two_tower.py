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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.encoders.two_tower import (
    CONFIG_FILE,
    FORMAT,
    SEEN_ITEMS_FILE,
    SEEN_OFFSETS_FILE,
    SPACE_DIR,
    VERSION,
    WEIGHTS_FILE,
    FeatureArrays,
    feature_arrays,
    infer_specs,
    tower_forward,
)
from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.folders import check_replaceable, write_atomically
from embedspace.io.interactions import Interactions
from embedspace.ops.recs_eval import (
    Catalogue,
    Report,
    baseline_reports,
    evaluate,
    split,
)

KIND = "a two-tower model"


@dataclass(frozen=True)
class TwoTowerSettings:
    """Hyper-parameters of ``train_two_tower`` (the CLI exposes each one)."""

    dim: int = 64
    id_dim: int = 64
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 512
    learning_rate: float = 3e-3
    weight_decay: float = 1e-6
    temperature: float = 0.1
    logq: bool = True
    negatives: int = 0
    id_dropout: float = 0.1
    history: bool = True
    patience: int = 4
    refit: bool = True  # after early stopping, retrain on all training data for the best epochs
    split: str = "leave-last-out"
    test_fraction: float = 0.2
    k: int = 10
    seed: int = 0


@dataclass(frozen=True)
class TwoTowerReport:
    """What training did and how every recommender scored on the test split."""

    path: Path
    best_epoch: int
    epochs_run: int
    validation_recall: float
    seconds: float
    reports: list[Report]


class _Stamp(Encoder):
    """Names the item Space's vectors; they are stored, never computed by it."""

    name = "two-tower-items"
    modalities = frozenset({"id"})

    def __init__(self, dim: int) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim


@dataclass
class _Side:
    """One tower's data: feature arrays for index 0 (unknown) and 1..n."""

    specs: list[Any]
    arrays: FeatureArrays


def _side(
    ids: list[str],
    table: Mapping[str, Mapping[str, Any]] | None,
    kinds: Mapping[str, str] | None,
    text_encoder: str,
    encoders: dict[str, Encoder],
) -> _Side:
    if not table:
        return _Side([], feature_arrays([], [None] * (len(ids) + 1)))
    specs = infer_specs(table, text_encoder=text_encoder, kinds=kinds)
    rows = [None, *(table.get(i) for i in ids)]
    return _Side(specs, feature_arrays(specs, rows, encoders))


def chosen_rows(catalogue: Catalogue, data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """The distinct items each catalogue user chose in ``data``, as compressed sparse
    rows ``(offsets, items)``: user row ``r`` chose item rows ``items[offsets[r]:
    offsets[r + 1]]``, sorted. Users and items outside the catalogue are left out.
    ``offsets`` is int64 of shape ``(n_users + 1,)``, ``items`` int32."""
    users, items = catalogue.user_rows(data.users), catalogue.item_rows(data.items)
    keep = (users >= 0) & (items >= 0)
    n_items = max(1, len(catalogue.items))
    pairs = np.unique(users[keep] * n_items + items[keep])
    counts = np.bincount(pairs // n_items, minlength=len(catalogue.users))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, (pairs % n_items).astype(np.int32)


def _histories(catalogue: Catalogue, data: Interactions) -> list[np.ndarray]:
    """Per user (index 1..n, 0 empty): the 1-based item indices they chose, unique."""
    offsets, items = chosen_rows(catalogue, data)
    ones = items.astype(np.int64) + 1
    return [np.zeros(0, np.int64)] + [
        ones[offsets[r] : offsets[r + 1]] for r in range(len(catalogue.users))
    ]


def train_two_tower(
    interactions: Interactions,
    output: str | Path,
    *,
    user_features: Mapping[str, Mapping[str, Any]] | None = None,
    item_features: Mapping[str, Mapping[str, Any]] | None = None,
    user_kinds: Mapping[str, str] | None = None,
    item_kinds: Mapping[str, str] | None = None,
    text_encoder: str = "minilm-l6",
    settings: TwoTowerSettings | None = None,
    baselines: bool = True,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TwoTowerReport:
    """Split, train with early stopping, evaluate against the baselines, save to ``output``.

    ``on_epoch(epoch, train_loss, validation_recall)`` is called after every epoch.
    """
    import time

    settings = settings or TwoTowerSettings()
    _check(settings)
    target = Path(output)
    check_replaceable(target, CONFIG_FILE, KIND)
    started = time.perf_counter()
    train_all, test = split(interactions, settings.split, settings.test_fraction)
    fit, valid = split(train_all, "leave-last-out")
    catalogue = Catalogue.of(train_all)
    encoders: dict[str, Encoder] = {}
    users = _side(catalogue.users, user_features, user_kinds, text_encoder, encoders)
    items = _side(catalogue.items, item_features, item_kinds, text_encoder, encoders)
    weights, best_epoch, epochs_run, validation_recall = _fit(
        catalogue, fit, valid, users, items, settings, on_epoch
    )
    if settings.refit:  # the validation ratings are each user's most recent: learn them too
        weights = _fit(
            catalogue, train_all, None, users, items, replace(settings, epochs=best_epoch), on_epoch
        )[0]
    histories = _histories(catalogue, train_all)
    user_vectors, item_vectors = _vectors(weights, catalogue, users, items, histories, settings)
    weights["user_vectors"], weights["item_vectors"] = user_vectors, item_vectors
    scorer = _dot_scorer(user_vectors, item_vectors)
    reports = [evaluate("two-tower", scorer, catalogue, train_all, test, settings.k)]
    if baselines:
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
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "validation_recall": round(validation_recall, 6),
        "seconds": round(seconds, 3),
        "evaluation": [asdict(r) for r in reports],
    }
    seen = chosen_rows(catalogue, interactions)  # the whole file: the test split too
    _save(target, config, weights, seen, catalogue, item_vectors, item_features)
    return TwoTowerReport(target, best_epoch, epochs_run, validation_recall, seconds, reports)


def _check(settings: TwoTowerSettings) -> None:
    for name in ("dim", "id_dim", "hidden", "epochs", "batch_size", "patience", "k"):
        if getattr(settings, name) < 1:
            raise InvalidInput(f"{name} must be at least 1.")
    if settings.batch_size < 2:
        raise InvalidInput("batch_size must be at least 2 (the batch holds the negatives).")
    if settings.negatives < 0 or not 0 <= settings.id_dropout < 1:
        raise InvalidInput("negatives must be >= 0 and id_dropout in [0, 1).")
    if settings.learning_rate <= 0 or settings.temperature <= 0:
        raise InvalidInput("learning_rate and temperature must be positive.")


def _fit(
    catalogue: Catalogue,
    fit: Interactions,
    valid: Interactions | None,
    users: _Side,
    items: _Side,
    settings: TwoTowerSettings,
    on_epoch: Callable[[int, float, float], None] | None,
) -> tuple[dict[str, np.ndarray], int, int, float]:
    """Train; with ``valid``, keep the epoch with the best validation recall (early
    stopping); without, train exactly ``settings.epochs`` epochs (the refit)."""
    try:
        import torch
    except ImportError:
        raise MissingExtra("Training a two-tower model", "torch", "torch") from None
    from embedspace.train.two_tower_net import TwoTowerNet

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    user_rows = catalogue.user_rows(fit.users) + 1
    item_rows = catalogue.item_rows(fit.items) + 1
    weights = (
        np.ones(len(fit), np.float32)
        if fit.weights is None
        else (fit.weights / fit.weights.mean()).astype(np.float32)
    )
    n_items = len(catalogue.items)
    counts = np.bincount(item_rows, minlength=n_items + 1).astype(np.float64)
    log_q = np.log(np.maximum(counts, 1) / counts.sum()).astype(np.float32)
    histories = _histories(catalogue, fit)
    net = TwoTowerNet(users, items, len(catalogue.users) + 1, n_items + 1, settings)
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    epochs_run = 0
    for epoch in range(1, settings.epochs + 1):
        net.train()
        order = rng.permutation(len(fit))
        total = 0.0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            if len(batch) < 2:
                continue
            optimiser.zero_grad()
            loss = net.loss(
                user_rows[batch], item_rows[batch], weights[batch], histories, log_q, rng
            )
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        state = net.numpy_weights()
        epochs_run = epoch
        if valid is None:
            if on_epoch is not None:
                on_epoch(epoch, total / len(fit), float("nan"))
            best = (float("nan"), epoch, state)
            continue
        user_vectors, item_vectors = _vectors(state, catalogue, users, items, histories, settings)
        recall = evaluate(
            "validation",
            _dot_scorer(user_vectors, item_vectors),
            catalogue,
            fit,
            valid,
            settings.k,
        ).recall
        if on_epoch is not None:
            on_epoch(epoch, total / len(fit), float(recall))
        if recall > best[0] + 1e-6:
            best = (float(recall), epoch, state)
        elif epoch - best[1] >= settings.patience:
            break
    return best[2], best[1], epochs_run, best[0]


def _dot_scorer(
    user_vectors: np.ndarray, item_vectors: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rows: user_vectors[rows] @ item_vectors.T


def _vectors(
    weights: Mapping[str, np.ndarray],
    catalogue: Catalogue,
    users: _Side,
    items: _Side,
    histories: list[np.ndarray],
    settings: TwoTowerSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of every known user and item (0-based rows), in numpy, as served."""
    user_ids = np.arange(1, len(catalogue.users) + 1)
    item_ids = np.arange(1, len(catalogue.items) + 1)
    user_arrays = FeatureArrays(
        users.arrays.categorical[1:], users.arrays.numeric[1:], users.arrays.text[1:]
    )
    item_arrays = FeatureArrays(
        items.arrays.categorical[1:], items.arrays.numeric[1:], items.arrays.text[1:]
    )
    user_vectors = tower_forward(
        weights, "user", user_ids, user_arrays, histories[1:] if settings.history else None
    )
    item_vectors = tower_forward(weights, "item", item_ids, item_arrays)
    return user_vectors, item_vectors


def _save(
    path: Path,
    config: dict[str, Any],
    weights: dict[str, np.ndarray],
    seen: tuple[np.ndarray, np.ndarray],
    catalogue: Catalogue,
    item_vectors: np.ndarray,
    item_features: Mapping[str, Mapping[str, Any]] | None,
) -> None:
    """Write the model folder atomically: a temporary sibling, then a rename."""
    from safetensors.numpy import save_file

    from embedspace.store.space import Space

    def fill(temp: Path) -> None:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in weights.items()}, str(temp / WEIGHTS_FILE)
        )
        np.save(temp / SEEN_OFFSETS_FILE, seen[0], allow_pickle=False)
        np.save(temp / SEEN_ITEMS_FILE, seen[1], allow_pickle=False)
        (temp / CONFIG_FILE).write_text(json.dumps(config) + "\n", encoding="utf-8")
        features = item_features or {}
        with Space.create(
            temp / SPACE_DIR, encoder=_Stamp(item_vectors.shape[1]), metric="cosine"
        ) as space:
            space.add(
                [_title(i, features.get(i)) for i in catalogue.items],
                ids=catalogue.items,
                metadata=[dict(features.get(i) or {}) for i in catalogue.items],
                vectors=item_vectors,
            )
            space.optimize()

    write_atomically(path, fill, marker=CONFIG_FILE, kind=KIND)


def _title(item: str, features: Mapping[str, Any] | None) -> str:
    """What a person reads for an item: its first long text feature, else its id."""
    for value in (features or {}).values():
        if isinstance(value, str) and len(value.strip()) > 3 and not value.strip().isdigit():
            return value.strip()
    return item
