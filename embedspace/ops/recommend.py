"""Recommendation questions asked of a trained two-tower model's data: checking a model
against the file it was trained on, and which feature column belongs to which tower."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedspace.encoders.two_tower import TwoTowerModel
from embedspace.errors import InvalidInput
from embedspace.io.interactions import Interactions
from embedspace.ops.recs_eval import Catalogue, Report, baseline_reports, evaluate, split
from embedspace.train.two_tower import TwoTowerSettings

FEATURE_KINDS = ("categorical", "numeric", "text", "ignore")


def evaluate_two_tower(
    model: TwoTowerModel, interactions: Interactions, *, baselines: bool = True
) -> tuple[list[Report], str]:
    """Split ``interactions`` the way ``model`` was trained (it must be the same data) and
    score the model, then the baselines, on the test split. Returns the reports and the
    split's name. Raises ``InvalidInput`` when the training users differ."""
    settings = TwoTowerSettings(**model.config["settings"])
    train, test = split(interactions, settings.split, settings.test_fraction)
    catalogue = Catalogue(model.users, model.items)
    differ = set(catalogue.users) ^ set(dict.fromkeys(train.users.tolist()))
    if differ:
        raise InvalidInput(
            f"These interactions are not the data {model.path} was trained on "
            f"({len(differ)} users differ in the training split)."
        )
    weights = model.weights()
    users, items = weights["user_vectors"], weights["item_vectors"]
    reports = [
        evaluate(
            "two-tower", lambda rows: users[rows] @ items.T, catalogue, train, test, settings.k
        )
    ]
    if baselines:
        reports.extend(baseline_reports(catalogue, train, test, settings.k, settings.seed))
    return reports, settings.split


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
