"""The torch side of the two-tower model: towers, the logQ-corrected in-batch softmax
loss, and export to the numpy weights that ``encoders.two_tower.tower_forward`` runs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from embedspace.encoders.two_tower import CATEGORY_DIM, FeatureArrays
from embedspace.train.histories import Histories


class Tower(torch.nn.Module):  # type: ignore[misc]
    """Embeddings and features -> Linear -> ReLU -> Linear -> unit length."""

    def __init__(
        self,
        arrays: FeatureArrays,
        sizes: list[int],
        n_ids: int,
        history_items: int,
        shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        id_dim, hidden, dim = shape
        self.categorical = torch.from_numpy(arrays.categorical)
        self.numeric = torch.from_numpy(arrays.numeric)
        self.text = torch.from_numpy(arrays.text)
        self.id = torch.nn.Embedding(n_ids, id_dim)
        self.cats = torch.nn.ModuleList(torch.nn.Embedding(size, CATEGORY_DIM) for size in sizes)
        self.history = torch.nn.Embedding(history_items, id_dim) if history_items else None
        width = id_dim + CATEGORY_DIM * len(sizes) + arrays.numeric.shape[1] + arrays.text.shape[1]
        width += id_dim if history_items else 0
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, dim)
        )
        for module in (self.id, *self.cats, *([self.history] if history_items else [])):
            torch.nn.init.normal_(module.weight, std=0.1)

    def forward(self, rows: Any, ids: Any, history: Any = None) -> Any:
        """``rows``: feature rows; ``ids``: id indices (0 where dropped); ``history``:
        pooled history embeddings or None."""
        parts = [self.id(ids)]
        parts.extend(embedding(self.categorical[rows, c]) for c, embedding in enumerate(self.cats))
        parts.extend([self.numeric[rows], self.text[rows]])
        if history is not None:
            parts.append(history)
        return torch.nn.functional.normalize(self.mlp(torch.cat(parts, dim=1)), dim=1)


class TwoTowerNet(torch.nn.Module):  # type: ignore[misc]
    """Both towers and the training loss."""

    def __init__(self, users: Any, items: Any, n_users: int, n_items: int, settings: Any) -> None:
        super().__init__()
        self.settings = settings
        self.n_items = n_items
        history = n_items if settings.history else 0
        shape = (settings.id_dim, settings.hidden, settings.dim)
        self.user = Tower(users.arrays, _sizes(users.specs), n_users, history, shape)
        self.item = Tower(items.arrays, _sizes(items.specs), n_items, 0, shape)

    def _pooled(self, users: np.ndarray, targets: np.ndarray, histories: Histories) -> Any:
        """Mean history embedding of each user without the target item (no leakage).

        Each distinct user of the batch is summed once, as one sparse-times-dense product
        (its backward is another one), then the target's embedding is taken away."""
        assert self.user.history is not None
        table = self.user.history.weight
        distinct, inverse = np.unique(users, return_inverse=True)
        items, lengths = histories.gather(distinct)
        rows = torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)]))
        with warnings.catch_warnings():  # "sparse CSR support is in beta": it is used as documented
            warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
            matrix = torch.sparse_csr_tensor(
                rows,
                torch.from_numpy(items),
                torch.ones(len(items)),
                (len(distinct), len(table)),
                check_invariants=False,  # built valid: sorted, in-range indices
            )
        summed = (matrix @ table)[torch.from_numpy(inverse)]
        inside = histories.contains(users, targets)
        count = torch.from_numpy((lengths[inverse] - inside).clip(min=1).astype(np.float32))
        summed = summed - torch.from_numpy(inside.astype(np.float32))[:, None] * self.user.history(
            torch.from_numpy(targets)
        )
        return summed / count[:, None]

    def loss(
        self,
        users: np.ndarray,
        items: np.ndarray,
        weights: np.ndarray,
        histories: Histories,
        log_q: np.ndarray,
        rng: np.random.Generator,
    ) -> Any:
        """Weighted in-batch softmax cross-entropy with logQ correction."""
        s = self.settings
        user_ids = torch.from_numpy(np.where(rng.random(len(users)) < s.id_dropout, 0, users))
        item_ids = torch.from_numpy(np.where(rng.random(len(items)) < s.id_dropout, 0, items))
        pooled = self._pooled(users, items, histories) if s.history else None
        u = self.user(torch.from_numpy(users), user_ids, pooled)
        v = self.item(torch.from_numpy(items), item_ids)
        logits = torch.addmm(
            torch.from_numpy(_offsets(items, log_q, s.logq)), u / s.temperature, v.T
        )
        if s.negatives:
            sampled = rng.integers(1, self.n_items, size=s.negatives)
            extra = self.item(torch.from_numpy(sampled), torch.from_numpy(sampled))
            extra_logits = u @ extra.T / s.temperature
            if s.logq:
                extra_logits = extra_logits - float(np.log(s.negatives / (self.n_items - 1)))
            clash = torch.from_numpy(items[:, None] == sampled[None, :])
            logits = torch.cat([logits, extra_logits.masked_fill(clash, float("-inf"))], dim=1)
        target = torch.arange(len(items))
        losses = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        return (losses * torch.from_numpy(weights)).mean()

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """The towers' parameters under the names ``tower_forward`` reads."""
        out: dict[str, np.ndarray] = {}

        def array(parameter: Any) -> np.ndarray:
            return np.array(parameter.detach().numpy(), dtype=np.float32)

        for name, tower in (("user", self.user), ("item", self.item)):
            layers: Any = tower.mlp
            out[f"{name}.id"] = array(tower.id.weight)
            for c, embedding in enumerate(tower.cats):
                out[f"{name}.cat{c}"] = array(embedding.weight)
            if tower.history is not None:
                out[f"{name}.history"] = array(tower.history.weight)
            out[f"{name}.w1"], out[f"{name}.b1"] = array(layers[0].weight), array(layers[0].bias)
            out[f"{name}.w2"], out[f"{name}.b2"] = array(layers[2].weight), array(layers[2].bias)
        return out


def _offsets(items: np.ndarray, log_q: np.ndarray, logq: bool) -> np.ndarray:
    """What is added to the batch's logits, ``(n, n)`` float32: minus log Q of each
    column's item (the sampling-bias correction, with ``logq``), and minus infinity where
    a column repeats the row's own item (not a negative), the diagonal excepted. Built in
    numpy and added by the logits' matrix product, it costs no extra pass over them in
    either direction."""
    n = len(items)
    offsets = np.zeros((n, n), np.float32)
    if logq:
        offsets -= log_q[items][None, :]
    same = items[:, None] == items[None, :]
    np.fill_diagonal(same, False)
    offsets[same] = -np.inf
    return offsets


def _sizes(specs: list[Any]) -> list[int]:
    """Rows of each categorical embedding: the vocabulary plus index 0 (unknown)."""
    return [len(spec.vocabulary) + 1 for spec in specs if spec.kind == "categorical"]
