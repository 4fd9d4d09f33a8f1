"""Offline evaluation of recommenders: splits, ranking metrics, and the baselines every
model is compared with on the same split (most popular, item-kNN, ALS matrix factorisation).

Metrics rank the whole catalogue for each test user, with the items the user already chose
in training excluded: Recall@k (share of held-out items in the top k), NDCG@k, MRR (mean
reciprocal rank of the first held-out item, whole ranking) and coverage (share of the
catalogue that appears in at least one top-k list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.interactions import Interactions

SPLITS = ("leave-last-out", "time")


class Catalogue:
    """Integer indices for the users and items of the training data."""

    def __init__(self, users: list[str], items: list[str]) -> None:
        self.users = list(users)
        self.items = list(items)
        self.user_index = {u: i for i, u in enumerate(self.users)}
        self.item_index = {u: i for i, u in enumerate(self.items)}

    @classmethod
    def of(cls, data: Interactions) -> Catalogue:
        """Users and items in order of first appearance."""
        users = list(dict.fromkeys(data.users.tolist()))
        return cls(users, list(dict.fromkeys(data.items.tolist())))

    def user_rows(self, users: np.ndarray) -> np.ndarray:
        """Indices of user ids (-1 for unknown)."""
        index = self.user_index
        return np.fromiter((index.get(u, -1) for u in users), np.int64, len(users))

    def item_rows(self, items: np.ndarray) -> np.ndarray:
        """Indices of item ids (-1 for unknown)."""
        index = self.item_index
        return np.fromiter((index.get(i, -1) for i in items), np.int64, len(items))

    def matrix(self, data: Interactions) -> Any:
        """The binary user x item CSR matrix of ``data`` (unknown ids dropped)."""
        from scipy.sparse import csr_matrix

        rows, cols = self.user_rows(data.users), self.item_rows(data.items)
        keep = (rows >= 0) & (cols >= 0)
        matrix = csr_matrix(
            (np.ones(int(keep.sum()), np.float32), (rows[keep], cols[keep])),
            shape=(len(self.users), len(self.items)),
        )
        matrix.data[:] = 1.0  # repeated interactions count once
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix


def _order(data: Interactions) -> np.ndarray:
    """Positions sorted by time (file order breaks ties and stands in for missing times)."""
    position = np.arange(len(data))
    if data.timestamps is None:
        return position
    return np.lexsort((position, data.timestamps))


def split(
    data: Interactions, how: str = "leave-last-out", fraction: float = 0.2
) -> tuple[Interactions, Interactions]:
    """``(train, test)``. ``leave-last-out``: each user's latest interaction is held out
    (users with one interaction stay in training). ``time``: everything after the
    ``1 - fraction`` quantile of time is held out (needs timestamps)."""
    if how not in SPLITS:
        raise InvalidInput(f"Unknown split '{how}'; choose {' or '.join(SPLITS)}.")
    if len(data) < 2:
        raise InvalidInput("Need at least two interactions to split.")
    if how == "time":
        if data.timestamps is None:
            raise InvalidInput("A time split needs a timestamp column; use --split leave-last-out.")
        cutoff = np.quantile(data.timestamps, 1 - fraction)
        test = data.timestamps > cutoff
    else:
        order = _order(data)
        last: dict[str, int] = {}
        counts: dict[str, int] = {}
        for position in order:
            user = data.users[position]
            last[user] = int(position)
            counts[user] = counts.get(user, 0) + 1
        test = np.zeros(len(data), dtype=bool)
        test[[p for u, p in last.items() if counts[u] > 1]] = True
    if not test.any() or test.all():
        raise InvalidInput("The split left no test or no training data; give more interactions.")
    return data.subset(~test), data.subset(test)


Scorer = Callable[[np.ndarray], np.ndarray]  # user rows -> (len(rows), n_items) scores


@dataclass(frozen=True)
class Report:
    """One recommender's metrics on one split."""

    name: str
    recall: float
    ndcg: float
    mrr: float
    coverage: float
    users: int
    k: int


@dataclass(frozen=True)
class HeldOut:
    """A test split ready to score many times (``held_out``): the test users' rows
    (sorted), the user x item CSR matrix of their training items (left out of every
    ranking) and each test user's held-out item rows (-1 for items outside the catalogue)."""

    rows: np.ndarray
    seen: Any
    held: dict[int, set[int]]
    n_items: int


def held_out(catalogue: Catalogue, train: Interactions, test: Interactions) -> HeldOut:
    """Prepare ``test`` for ``score``; raises ``InvalidInput`` when no test user is known."""
    users = catalogue.user_rows(test.users)
    items = catalogue.item_rows(test.items)
    held: dict[int, set[int]] = {}
    for user, item in zip(users.tolist(), items.tolist(), strict=True):
        if user >= 0:
            held.setdefault(user, set()).add(item)
    if not held:
        raise InvalidInput("No test user appears in the training data; nothing to evaluate.")
    seen = catalogue.matrix(train).tocsr()
    return HeldOut(np.array(sorted(held)), seen, held, len(catalogue.items))


def evaluate(
    name: str,
    scorer: Scorer,
    catalogue: Catalogue,
    train: Interactions,
    test: Interactions,
    k: int = 10,
) -> Report:
    """Rank the catalogue for every test user whose history is known, training items
    excluded; held-out items not in the catalogue count as misses."""
    return score(name, scorer, held_out(catalogue, train, test), k)


def score(name: str, scorer: Scorer, split: HeldOut, k: int = 10) -> Report:
    """``evaluate`` on a prepared split (``held_out``), to score many models on it."""
    rows, seen, held = split.rows, split.seen, split.held
    recall = ndcg = mrr = 0.0
    shown: set[int] = set()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    step = max(1, min(512, 20_000_000 // max(1, split.n_items)))  # <= ~160 MB of scores
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        scores = np.asarray(scorer(chunk), dtype=np.float64)
        block = seen[chunk]
        scores[np.repeat(np.arange(len(chunk)), np.diff(block.indptr)), block.indices] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(
            top, np.argsort(-np.take_along_axis(scores, top, 1), 1, kind="stable"), 1
        )
        for row, user in enumerate(chunk.tolist()):
            relevant = held[user]
            ranked = top[row].tolist()
            hits = np.array([i in relevant for i in ranked])
            shown.update(ranked)
            recall += hits.sum() / len(relevant)
            ideal = discounts[: min(len(relevant), k)].sum()
            ndcg += float((hits * discounts).sum() / ideal)
            known = [i for i in relevant if i >= 0]
            if known:
                best = scores[row, known].max()
                rank = 1 + int(np.sum(scores[row] > best))
                mrr += 1.0 / rank
    count = len(rows)
    return Report(
        name, recall / count, ndcg / count, mrr / count, len(shown) / split.n_items, count, k
    )


# ----------------------------------------------------------------------- baselines
def popularity_scorer(catalogue: Catalogue, train: Interactions) -> Scorer:
    """Everyone gets the most chosen items."""
    counts = np.asarray(catalogue.matrix(train).sum(axis=0)).ravel()
    return lambda rows: np.tile(counts, (len(rows), 1))


def item_knn_scorer(catalogue: Catalogue, train: Interactions) -> Scorer:
    """Item-to-item cosine on co-occurrence: an item scores the sum of its similarities
    to the items the user chose."""
    from sklearn.preprocessing import normalize

    matrix = catalogue.matrix(train).tocsc()
    unit = normalize(matrix, axis=0)
    similarity = (unit.T @ unit).tolil()
    similarity.setdiag(0)
    similarity = similarity.tocsr()
    users = matrix.tocsr()
    return lambda rows: (users[rows] @ similarity).toarray()


def als_scorer(
    catalogue: Catalogue,
    train: Interactions,
    *,
    factors: int = 64,
    iterations: int = 15,
    regularization: float = 0.05,
    alpha: float = 10.0,
    seed: int = 0,
) -> Scorer:
    """Implicit-feedback matrix factorisation (ALS, Hu et al. 2008) with the ``implicit``
    package."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        raise MissingExtra("The ALS baseline", "recs", "implicit") from None
    matrix = catalogue.matrix(train).tocsr()
    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        iterations=iterations,
        alpha=alpha,
        random_state=seed,
        calculate_training_loss=False,
    )
    model.fit(matrix.astype(np.float32), show_progress=False)
    users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
    return lambda rows: users[rows] @ items.T


def baseline_reports(
    catalogue: Catalogue, train: Interactions, test: Interactions, k: int = 10, seed: int = 0
) -> list[Report]:
    """Most popular, item-kNN and (when ``implicit`` is installed) ALS on the same split."""
    reports = [
        evaluate("most popular", popularity_scorer(catalogue, train), catalogue, train, test, k),
        evaluate("item-kNN (cosine)", item_knn_scorer(catalogue, train), catalogue, train, test, k),
    ]
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):  # implicit's ALS runs its own threads
            als = als_scorer(catalogue, train, seed=seed)
        reports.append(evaluate("ALS (implicit)", als, catalogue, train, test, k))
    except (MissingExtra, ImportError):
        pass  # the table shows which baselines ran
    return reports
