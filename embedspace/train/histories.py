"""Who chose what, as compressed sparse rows: the items each user chose, for the "seen"
items a model leaves out and for the user tower's history input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedspace.io.interactions import Interactions
from embedspace.train.recs_eval import Catalogue


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


@dataclass(frozen=True)
class Histories:
    """The distinct items of every user as compressed sparse rows of tower indices: user
    ``u`` (1-based; 0, the unknown user, has none) chose the item indices
    ``items[offsets[u]:offsets[u + 1]]`` (1-based, sorted). ``keys`` (``u * width + item``,
    sorted) answers membership by binary search."""

    offsets: np.ndarray  # int64, (n_users + 2,)
    items: np.ndarray  # int64
    keys: np.ndarray  # int64, like items
    width: int

    @classmethod
    def of(cls, catalogue: Catalogue, data: Interactions) -> Histories:
        """The histories of ``data``'s interactions (users and items outside
        ``catalogue`` left out)."""
        offsets, items = chosen_rows(catalogue, data)
        n_items = len(catalogue.items)
        offsets = np.concatenate([[0], np.asarray(offsets, np.int64)])
        ones = np.asarray(items, np.int64) + 1
        width = n_items + 1
        users = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        return cls(offsets, ones, users * width + ones, width)

    def gather(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The items of ``users``, one after the other, and how many each has."""
        starts, lengths = self.offsets[users], self.offsets[users + 1] - self.offsets[users]
        shift = starts - np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return self.items[np.repeat(shift, lengths) + np.arange(int(lengths.sum()))], lengths

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each ``items[i]`` is in the history of ``users[i]`` (bool array)."""
        wanted = users * self.width + items
        found = np.searchsorted(self.keys, wanted).clip(max=max(len(self.keys) - 1, 0))
        if not len(self.keys):
            return np.zeros(len(wanted), dtype=bool)
        return np.asarray(self.keys[found] == wanted)

    def lists(self) -> list[np.ndarray]:
        """Per user index (0 first): its items, as the numpy serving code takes them."""
        return np.split(self.items, self.offsets[1:-1])
