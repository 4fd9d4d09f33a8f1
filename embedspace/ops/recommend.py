"""Recommendations from a trained two-tower model: training and saving one, serving it
(recommend, similar items, cold start from features), and checking it against the file it
was trained on.

The towers themselves (``embedspace.encoders.two_tower.TwoTowers``) know nothing of
storage; a model folder also holds ``items.space``, a Space of every item's vector, and
recommending is a nearest-neighbour search in it with the user's vector. Both the CLI and
the Python API (``es.TwoTowerModel``, ``es.train_two_tower``) come here.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedspace.encoders.two_tower import CONFIG_FILE, SPACE_DIR, TwoTowers
from embedspace.errors import InvalidInput
from embedspace.io.folders import check_replaceable, write_atomically
from embedspace.io.interactions import InteractionColumns, Interactions, read_features
from embedspace.progress import ProgressCallback, report
from embedspace.store.database import Stamp
from embedspace.store.space import Space
from embedspace.train.recs_eval import Catalogue, Report, baseline_reports, evaluate, split
from embedspace.train.two_tower import (
    KIND,
    TrainedTwoTower,
    TwoTowerReport,
    TwoTowerSettings,
    check_settings,
    fit_two_tower,
)
from embedspace.train.two_tower_fit import EpochCallback

FEATURE_KINDS = ("categorical", "numeric", "text", "ignore")
#: What the item Space's stamp says made its vectors (they are stored, never computed).
ITEM_VECTORS = "two-tower-items"


class Recommender(TwoTowers):
    """A trained two-tower model, served: its towers (user and item vectors, cold-start
    vectors from features) plus its item Space for recommendations and similar items.

    Files are read on first use; ``close()`` (or a ``with`` block) closes the item Space.
    Also available as ``embedspace.TwoTowerModel``.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._space: Space | None = None
        self._space_lock = threading.Lock()

    def space(self) -> Space:
        """The Space of item vectors, opened on first use and kept open (``close()``)."""
        with self._space_lock:
            if self._space is None:
                self._space = Space.open(self.path / SPACE_DIR)
            return self._space

    def close(self) -> None:
        """Close the item Space and the seen items (they reopen when needed)."""
        super().close()
        with self._space_lock:
            if self._space is not None:
                self._space.close()
                self._space = None

    def __enter__(self) -> Recommender:
        return self

    def recommend(
        self,
        user: str | None = None,
        k: int = 10,
        *,
        features: Mapping[str, Any] | None = None,
        exclude_seen: bool = True,
    ) -> list[tuple[str, float]]:
        """The ``k`` best items for a known ``user``, or for a new user described by
        ``features``; every item the user chose in the file the model was trained on is
        left out (unless ``exclude_seen=False``)."""
        if k < 1:
            raise InvalidInput(f"k must be at least 1, not {k}.")
        if user is not None and user in self.user_index:
            vector = self.user_vectors([user])[0]
            seen = set(self.seen(user)) if exclude_seen else set()
        elif features is not None:
            vector, seen = self.cold_user_vector(features), set()
        else:
            vector, seen = self.user_vectors([str(user)])[0], set()  # raises: unknown user
        space = self.space()
        matches = space.search(vector, k=min(len(space), k + len(seen)))
        return [(m.id, m.score) for m in matches if m.id not in seen][:k]

    def similar_items(
        self, item: str | None = None, k: int = 10, *, features: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Items closest to a known ``item`` (itself excluded), or to a new item's
        ``features``."""
        space = self.space()
        if item is not None and item in self.item_index:
            matches = space.similar(item, k=k)
        elif features is not None:
            matches = space.search(self.cold_item_vector(features), k=k)
        else:
            matches = space.search(self.item_vectors([str(item)])[0], k=k)  # raises: unknown
        return [(m.id, m.score) for m in matches]

    def evaluate(
        self, interactions: Interactions, *, baselines: bool = True
    ) -> tuple[list[Report], str]:
        """Split ``interactions`` the way the model was trained (it must be the same data)
        and score the model, then the baselines, on the test split. Returns the reports and
        the split's name. Raises ``InvalidInput`` when the training users differ."""
        settings = TwoTowerSettings(**self.config["settings"])
        train, test = split(interactions, settings.split, settings.test_fraction)
        catalogue = Catalogue(self.users, self.items)
        differ = set(catalogue.users) ^ set(dict.fromkeys(train.users.tolist()))
        if differ:
            raise InvalidInput(
                f"These interactions are not the data {self.path} was trained on "
                f"({len(differ)} users differ in the training split)."
            )
        weights = self.weights()
        users, items = weights["user_vectors"], weights["item_vectors"]
        reports = [
            evaluate(
                "two-tower", lambda rows: users[rows] @ items.T, catalogue, train, test, settings.k
            )
        ]
        if baselines:
            reports.extend(baseline_reports(catalogue, train, test, settings.k, settings.seed))
        return reports, settings.split


def evaluate_two_tower(
    model: TwoTowers | str | Path, interactions: Interactions, *, baselines: bool = True
) -> tuple[list[Report], str]:
    """``Recommender(model).evaluate(interactions)`` (see there)."""
    path = model.path if isinstance(model, TwoTowers) else Path(model)
    return Recommender(path).evaluate(interactions, baselines=baselines)


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
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> TwoTowerReport:
    """Train a two-tower model (``embedspace.train.two_tower.fit_two_tower``: split, early
    stopping, refit, evaluation against the baselines) and save it to ``output`` with its
    item Space: a new folder, or an earlier model's, replaced only once the new model is
    complete (an interrupted run leaves it as it was).

    ``on_epoch(TrainingEpoch)`` is called after every epoch; ``on_progress(stage, done,
    total)`` as each stage (features, training, refit, evaluation, saving) advances.
    """
    check_settings(settings or TwoTowerSettings())
    target = Path(output)
    check_replaceable(target, CONFIG_FILE, KIND)  # before hours of training, not after
    trained = fit_two_tower(
        interactions,
        user_features=user_features,
        item_features=item_features,
        user_kinds=user_kinds,
        item_kinds=item_kinds,
        text_encoder=text_encoder,
        settings=settings,
        baselines=baselines,
        on_epoch=on_epoch,
        on_progress=on_progress,
    )
    report(on_progress, f"Saving the model to {target}", 0, None)

    def fill(temp: Path) -> None:
        trained.write_files(temp)
        _write_item_space(temp / SPACE_DIR, trained, item_features or {})

    write_atomically(target, fill, marker=CONFIG_FILE, kind=KIND)
    return TwoTowerReport(
        target,
        trained.best_epoch,
        trained.epochs_run,
        trained.validation_recall,
        trained.seconds,
        trained.reports,
    )


@dataclass(frozen=True)
class TrainingFiles:
    """Where a two-tower model learns from: an interactions table, optional user and item
    feature tables (keyed by the user and item columns), and forced feature kinds
    (``{column: categorical|numeric|text|ignore}``; the rest are inferred)."""

    interactions: str | Path
    user_features: str | Path | None = None
    item_features: str | Path | None = None
    columns: InteractionColumns = field(default_factory=InteractionColumns)
    kinds: Mapping[str, str] = field(default_factory=dict)


def train_two_tower_from_files(
    files: TrainingFiles,
    output: str | Path,
    *,
    text_encoder: str = "minilm-l6",
    settings: TwoTowerSettings | None = None,
    baselines: bool = True,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[TwoTowerReport, str]:
    """Read ``files`` and ``train_two_tower`` on them. Returns the report and a user id
    of the file (the first), to show how to ask for recommendations."""
    data = files.columns.read(files.interactions)
    users = items = None
    if files.user_features is not None:
        users = read_features(files.user_features, id_column=files.columns.user)
    if files.item_features is not None:
        items = read_features(files.item_features, id_column=files.columns.item)
    user_kinds, item_kinds = feature_kinds(files.kinds, users, items)
    trained = train_two_tower(
        data,
        output,
        user_features=users,
        item_features=items,
        user_kinds=user_kinds,
        item_kinds=item_kinds,
        text_encoder=text_encoder,
        settings=settings,
        baselines=baselines,
        on_epoch=on_epoch,
        on_progress=on_progress,
    )
    return trained, str(data.users[0])


def evaluate_from_file(
    model: str | Path,
    interactions: str | Path,
    columns: InteractionColumns | None = None,
    *,
    baselines: bool = True,
) -> tuple[list[Report], str]:
    """``Recommender(model).evaluate`` on the interactions read from a file."""
    data = (columns or InteractionColumns()).read(interactions)
    with Recommender(model) as loaded:
        return loaded.evaluate(data, baselines=baselines)


@dataclass(frozen=True)
class Recommendation:
    """One recommended (or similar) item: its id, score and what a person reads for it."""

    item_id: str
    score: float
    title: str


def recommend_for_user(
    model: str | Path,
    user: str | None = None,
    *,
    features: Mapping[str, Any] | None = None,
    k: int = 10,
) -> list[Recommendation]:
    """``Recommender(model).recommend``, each item with its title (one of ``user`` and
    ``features``: ``InvalidInput`` otherwise)."""
    if (user is None) == (features is None):
        raise InvalidInput("Give --user ID, or --features JSON for a new user (one of the two).")
    with Recommender(model) as loaded:
        return _titled(loaded, loaded.recommend(user, k, features=features))


def similar_to_item(
    model: str | Path,
    item: str | None = None,
    *,
    features: Mapping[str, Any] | None = None,
    k: int = 10,
) -> list[Recommendation]:
    """``Recommender(model).similar_items``, each item with its title (one of ``item`` and
    ``features``: ``InvalidInput`` otherwise)."""
    if (item is None) == (features is None):
        raise InvalidInput("Give --item ID, or --features JSON for a new item (one of the two).")
    with Recommender(model) as loaded:
        return _titled(loaded, loaded.similar_items(item, k, features=features))


def _titled(model: Recommender, found: list[tuple[str, float]]) -> list[Recommendation]:
    """The found items with the titles stored in the model's item Space."""
    titles = {i.id: i.content for i in model.space().get_many([item for item, _ in found])}
    return [Recommendation(item, score, titles.get(item, item)) for item, score in found]


def _write_item_space(
    path: Path, trained: TrainedTwoTower, features: Mapping[str, Mapping[str, Any]]
) -> None:
    """The Space of every item's vector, titled and with the item's features as metadata."""
    items = trained.catalogue.items
    stamp = Stamp(ITEM_VECTORS, trained.item_vectors.shape[1], "cosine", True)
    with Space.create(path, encoder=stamp, metric="cosine") as space:
        space.add(
            [_title(i, features.get(i)) for i in items],
            ids=items,
            metadata=[dict(features.get(i) or {}) for i in items],
            vectors=trained.item_vectors,
        )
        space.optimize()


def _title(item: str, features: Mapping[str, Any] | None) -> str:
    """What a person reads for an item: its first long text feature, else its id."""
    for value in (features or {}).values():
        if isinstance(value, str) and len(value.strip()) > 3 and not value.strip().isdigit():
            return value.strip()
    return item


def feature_kinds(
    kinds: Mapping[str, str],
    user_features: Mapping[str, Mapping[str, Any]] | None,
    item_features: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Split forced feature kinds (``{column: kind}``) into the user table's and the item
    table's. Raises ``InvalidInput`` for an unknown kind or a column in neither table."""
    bad = sorted(f"{c}={k}" for c, k in kinds.items() if k not in FEATURE_KINDS)
    if bad:
        raise InvalidInput(
            f"Unknown feature kind in {', '.join(bad)}; use {', '.join(FEATURE_KINDS)}."
        )
    user_columns = _columns(user_features)
    item_columns = _columns(item_features)
    unknown = sorted(set(kinds) - user_columns - item_columns)
    if unknown:
        raise InvalidInput(f"No feature column {', '.join(unknown)} in the feature tables.")
    return (
        {c: k for c, k in kinds.items() if c in user_columns},
        {c: k for c, k in kinds.items() if c in item_columns},
    )


def _columns(table: Mapping[str, Mapping[str, Any]] | None) -> set[str]:
    """Every column of a feature table."""
    return {column for row in (table or {}).values() for column in row}
