"""Two-tower recommendation models, served without torch.

A model folder (written by ``embedspace train two-tower``) holds ``two_tower.json`` (ids,
feature specs, sizes, settings, evaluation), ``weights.safetensors`` (both towers),
``seen_offsets.npy`` and ``seen_items.npy`` (every item each user chose in the file the
model was trained on, as compressed sparse rows, memory-mapped when read) and
``items.space``, a Space of every item's vector. This module reads the towers (an encoder
knows nothing of storage); recommending is a nearest-neighbour search in that Space with
the user's vector, done by ``embedspace.ops.recommend``. The towers run in numpy, so known
users, and new users or items described by their features (cold start), need no torch at
serving time.

Each tower: [id embedding (index 0 = unknown id) | categorical embeddings | standardised
numbers | frozen text-encoder vectors | (user tower) mean embedding of the user's items]
-> Linear -> ReLU -> Linear -> unit length. Training and serving build the inputs with the
same functions below, so they cannot drift apart.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, InvalidInput
from embedspace.progress import ProgressCallback

CONFIG_FILE = "two_tower.json"
WEIGHTS_FILE = "weights.safetensors"
SPACE_DIR = "items.space"
SEEN_OFFSETS_FILE = "seen_offsets.npy"
SEEN_ITEMS_FILE = "seen_items.npy"
FORMAT = "embedspace-two-tower"
#: Version 2 keeps the seen items in ``seen_*.npy``, complete; version 1 kept them inline
#: in the JSON config, without each user's held-out test interaction.
VERSION = 2
MAX_CATEGORIES = 1000
CATEGORY_DIM = 8


@dataclass(frozen=True)
class FeatureSpec:
    """How one feature column becomes numbers: ``categorical`` (a vocabulary, index 0 =
    unknown or missing), ``numeric`` (standardised, missing = mean) or ``text`` (a frozen
    text encoder's vector, missing = zeros)."""

    column: str
    kind: str
    vocabulary: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0
    encoder: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "column": self.column,
            "kind": self.kind,
            "vocabulary": list(self.vocabulary),
            "mean": self.mean,
            "std": self.std,
            "encoder": self.encoder,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """The inverse of ``to_json``."""
        return cls(
            str(data["column"]),
            str(data["kind"]),
            tuple(data.get("vocabulary", ())),
            float(data.get("mean", 0.0)),
            float(data.get("std", 1.0)),
            str(data.get("encoder", "")),
        )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def infer_specs(
    table: Mapping[str, Mapping[str, Any]],
    *,
    text_encoder: str = "minilm-l6",
    kinds: Mapping[str, str] | None = None,
) -> list[FeatureSpec]:
    """Feature specs for every column of a feature table. A column whose values are all
    numbers is numeric; one with long, varied texts (mean >= 12 characters, a space in most
    values, mostly distinct) is text; anything else is categorical (its 1,000 most common
    values). ``kinds`` forces a column's kind, or drops it with ``"ignore"``."""
    forced = dict(kinds or {})
    columns = list(dict.fromkeys(c for row in table.values() for c in row))
    unknown = sorted(set(forced) - set(columns))
    if unknown:
        raise InvalidInput(
            f"No feature column {', '.join(unknown)}; there are: {', '.join(columns)}."
        )
    specs = []
    for column in columns:
        values = [row.get(column) for row in table.values()]
        present = [v for v in values if v is not None and str(v).strip() != ""]
        kind = forced.get(column) or _guess(present)
        if kind == "ignore" or not present:
            continue
        if kind == "numeric":
            if not all(_is_number(v) for v in present):
                raise InvalidInput(f"Feature column '{column}' is not all numbers.")
            numbers = np.asarray([float(v) for v in present])
            specs.append(
                FeatureSpec(
                    column, "numeric", mean=float(numbers.mean()), std=float(numbers.std() or 1.0)
                )
            )
        elif kind == "text":
            specs.append(FeatureSpec(column, "text", encoder=text_encoder))
        elif kind == "categorical":
            counts: dict[str, int] = {}
            for v in present:
                counts[str(v).strip()] = counts.get(str(v).strip(), 0) + 1
            ranked = sorted(counts, key=lambda v: (-counts[v], v))[:MAX_CATEGORIES]
            specs.append(FeatureSpec(column, "categorical", vocabulary=tuple(ranked)))
        else:
            raise InvalidInput(
                f"Unknown feature kind '{kind}' for '{column}'; "
                "use categorical, numeric, text or ignore."
            )
    return specs


def _guess(present: list[Any]) -> str:
    if present and all(_is_number(v) for v in present):
        return "numeric"
    texts = [str(v) for v in present]
    if texts:
        long = np.mean([len(t) for t in texts]) >= 12
        spaced = np.mean([" " in t.strip() for t in texts]) >= 0.5
        varied = len(set(texts)) >= 0.5 * len(texts)
        if long and spaced and varied:
            return "text"
    return "categorical"


@dataclass
class FeatureArrays:
    """A tower's inputs for a list of entities: categorical indices ``(n, c)``, numbers
    ``(n, m)`` and text vectors ``(n, t)`` (concatenated over columns)."""

    categorical: np.ndarray
    numeric: np.ndarray
    text: np.ndarray


def feature_arrays(
    specs: Sequence[FeatureSpec],
    rows: Sequence[Mapping[str, Any] | None],
    text_vectors: Mapping[str, Encoder] | None = None,
) -> FeatureArrays:
    """Encode feature rows (``None`` = no features known) with ``specs``."""
    n = len(rows)
    categorical, numeric, texts = [], [], []
    encoders = dict(text_vectors or {})
    for spec in specs:
        values = [None if r is None else r.get(spec.column) for r in rows]
        if spec.kind == "categorical":
            index = {v: i + 1 for i, v in enumerate(spec.vocabulary)}
            categorical.append(
                [index.get(str(v).strip(), 0) if v is not None else 0 for v in values]
            )
        elif spec.kind == "numeric":
            numeric.append(
                [(float(str(v)) - spec.mean) / spec.std if _is_number(v) else 0.0 for v in values]
            )
        else:
            texts.append(_text_vectors(spec, values, encoders))
    return FeatureArrays(
        np.asarray(categorical, dtype=np.int64).T.reshape(n, len(categorical)),
        np.asarray(numeric, dtype=np.float32).T.reshape(n, len(numeric)),
        np.hstack(texts).astype(np.float32) if texts else np.zeros((n, 0), np.float32),
    )


def _text_vectors(spec: FeatureSpec, values: list[Any], encoders: dict[str, Encoder]) -> np.ndarray:
    from embedspace.encoders.registry import get

    if spec.encoder not in encoders:
        encoders[spec.encoder] = get(spec.encoder)
    encoder = encoders[spec.encoder]
    out = np.zeros((len(values), encoder.dim), dtype=np.float32)
    present = [i for i, v in enumerate(values) if v is not None and str(v).strip()]
    if present:
        unique = sorted({str(values[i]).strip() for i in present})
        vectors = dict(zip(unique, encoder.encode(unique, batch_size=64), strict=True))
        for i in present:
            out[i] = vectors[str(values[i]).strip()]
    return out


def tower_forward(
    weights: Mapping[str, np.ndarray],
    tower: str,
    ids: np.ndarray,
    features: FeatureArrays,
    history: list[np.ndarray] | None = None,
) -> np.ndarray:
    """The numpy twin of the torch tower: unit-length output vectors."""
    parts = [weights[f"{tower}.id"][ids]]
    for column in range(features.categorical.shape[1]):
        parts.append(weights[f"{tower}.cat{column}"][features.categorical[:, column]])
    parts.append(features.numeric)
    parts.append(features.text)
    if history is not None:
        parts.append(_mean_rows(weights[f"{tower}.history"], history))
    x = np.hstack(parts).astype(np.float32)
    x = np.maximum(x @ weights[f"{tower}.w1"].T + weights[f"{tower}.b1"], 0.0)
    x = x @ weights[f"{tower}.w2"].T + weights[f"{tower}.b2"]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _mean_rows(table: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Per group of row indices of ``table``: the mean of those rows (zeros when empty).
    ``(len(groups), table.shape[1])`` float32, summed a block of groups at a time."""
    pooled = np.zeros((len(groups), table.shape[1]), dtype=np.float32)
    lengths = np.fromiter((len(g) for g in groups), np.int64, len(groups))
    ends = np.cumsum(lengths)
    start = 0
    while start < len(groups):  # blocks of about a million looked-up rows
        done = int(ends[start] - lengths[start])
        stop = max(start + 1, int(np.searchsorted(ends, done + 1_000_000, side="right")))
        filled = np.flatnonzero(lengths[start:stop]) + start
        if len(filled):
            flat = np.concatenate([groups[g] for g in filled.tolist()]).astype(np.int64)
            starts = np.concatenate([[0], np.cumsum(lengths[filled])[:-1]])
            pooled[filled] = np.add.reduceat(table[flat], starts, axis=0) / lengths[filled, None]
        start = stop
    return pooled


def is_two_tower_directory(path: Path) -> bool:
    """True when ``path`` holds a two-tower model."""
    return (path / CONFIG_FILE).is_file()


class TwoTowers:
    """The towers of a trained two-tower model: user and item vectors, the items each user
    chose, and vectors for new users and items from their features (cold start).

    Serving recommendations from the model's item Space is an application:
    ``embedspace.ops.recommend.Recommender`` (public name ``TwoTowerModel``) adds it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()  # files are read on first use, not here
        self._weights: dict[str, np.ndarray] | None = None
        self._seen: tuple[np.ndarray, np.ndarray] | None = None
        self._encoders: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    @cached_property
    def config(self) -> dict[str, Any]:
        """The model's ``two_tower.json``, checked."""
        file = self.path / CONFIG_FILE
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InvalidInput(f"No two-tower model at {self.path}: {error}") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise InvalidInput(f"{file} is not an embedspace two-tower model.")
        return config

    @cached_property
    def users(self) -> list[str]:
        """Known user ids, in training order."""
        return [str(u) for u in self.config["users"]]

    @cached_property
    def items(self) -> list[str]:
        """Known item ids, in training order."""
        return [str(i) for i in self.config["items"]]

    @cached_property
    def user_index(self) -> dict[str, int]:
        """User id -> tower input index (0 is the unknown user)."""
        return {u: i + 1 for i, u in enumerate(self.users)}

    @cached_property
    def item_index(self) -> dict[str, int]:
        """Item id -> tower input index (0 is the unknown item)."""
        return {item: i + 1 for i, item in enumerate(self.items)}

    @cached_property
    def user_specs(self) -> list[FeatureSpec]:
        """How user features are encoded."""
        return [FeatureSpec.from_json(s) for s in self.config["user_features"]]

    @cached_property
    def item_specs(self) -> list[FeatureSpec]:
        """How item features are encoded."""
        return [FeatureSpec.from_json(s) for s in self.config["item_features"]]

    @property
    def dim(self) -> int:
        """Size of the user and item vectors."""
        return int(self.config["settings"]["dim"])

    def weights(self) -> dict[str, np.ndarray]:
        """Tower weights and stored vectors, read on first use."""
        with self._lock:
            if self._weights is None:
                from safetensors.numpy import load_file

                self._weights = load_file(str(self.path / WEIGHTS_FILE))
            return self._weights

    def seen(self, user: str) -> list[str]:
        """Every item a known user chose anywhere in the file the model was trained on
        (its held-out test part included); ``[]`` for an unknown user."""
        row = self.user_index.get(user)
        if row is None:
            return []
        offsets, items = self._seen_rows()
        return [self.items[i] for i in items[offsets[row - 1] : offsets[row]].tolist()]

    def _seen_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The seen items as compressed sparse rows: user row ``r`` (0-based) chose the
        item rows ``items[offsets[r]:offsets[r + 1]]``. Memory-mapped on first use."""
        with self._lock:
            if self._seen is None:
                if int(self.config.get("version", 1)) < 2:
                    raise InvalidInput(
                        f"{self.path} was written by an older embedspace whose list of the "
                        "items each user chose misses their latest one, so it could recommend "
                        "items a user already chose. Retrain it with 'embedspace train "
                        "two-tower' (similar items and new users still work with this model)."
                    )
                try:
                    self._seen = (
                        np.load(self.path / SEEN_OFFSETS_FILE, mmap_mode="r"),
                        np.load(self.path / SEEN_ITEMS_FILE, mmap_mode="r"),
                    )
                except (OSError, ValueError) as error:
                    raise InvalidInput(
                        f"The two-tower model at {self.path} is damaged ({error}); retrain it "
                        "with 'embedspace train two-tower'."
                    ) from None
            return self._seen

    def user_vectors(self, users: Sequence[str]) -> np.ndarray:
        """Vectors of known users; raises ``InvalidInput`` naming unknown ones."""
        unknown = [u for u in users if u not in self.user_index]
        if unknown:
            raise InvalidInput(
                f"Unknown user(s): {', '.join(map(str, unknown[:5]))}. Give features for a new "
                "user (--features '{\"age\": 30, …}'), or retrain with their interactions."
            )
        return np.asarray(self.weights()["user_vectors"][[self.user_index[u] - 1 for u in users]])

    def item_vectors(self, items: Sequence[str]) -> np.ndarray:
        """Vectors of known items; raises ``InvalidInput`` naming unknown ones."""
        unknown = [i for i in items if i not in self.item_index]
        if unknown:
            raise InvalidInput(
                f"Unknown item(s): {', '.join(map(str, unknown[:5]))}. Give features for a new "
                "item (--features '{…}'), or retrain with it."
            )
        return np.asarray(self.weights()["item_vectors"][[self.item_index[i] - 1 for i in items]])

    def cold_user_vector(
        self, features: Mapping[str, Any], history: Sequence[str] = ()
    ) -> np.ndarray:
        """The vector of a user the model has not seen, from features and (optionally)
        items they chose."""
        arrays = feature_arrays(self.user_specs, [features], self._encoders)
        items = np.array(
            [self.item_index[i] for i in history if i in self.item_index], dtype=np.int64
        )
        use_history = bool(self.config["settings"].get("history", True))
        vectors = tower_forward(
            self.weights(), "user", np.zeros(1, np.int64), arrays, [items] if use_history else None
        )
        return np.asarray(vectors[0])

    def cold_item_vector(self, features: Mapping[str, Any]) -> np.ndarray:
        """The vector of an item the model has not seen, from its features."""
        arrays = feature_arrays(self.item_specs, [features], self._encoders)
        return np.asarray(tower_forward(self.weights(), "item", np.zeros(1, np.int64), arrays)[0])

    def close(self) -> None:
        """Let go of the memory-mapped seen items (they are mapped again when needed)."""
        with self._lock:
            self._seen = None

    def __enter__(self) -> TwoTowers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TwoTowerEncoder(Encoder):
    """One tower of a two-tower model as an encoder: ``encode(ids)`` gives the stored
    vectors of known user (or item) ids. Its items are ids (``str``), modality ``"id"``."""

    metric = "cosine"
    normalized = True
    modalities = frozenset({"id"})
    default_batch_size = 4096  # a batch is a table lookup

    def __init__(self, path: Path, tower: str = "item", *, model: TwoTowers | None = None) -> None:
        if tower not in ("user", "item"):
            raise InvalidInput(
                f"A two-tower model has a 'user' and an 'item' tower, not '{tower}'."
            )
        self.model = model if model is not None else TwoTowers(path)
        self.tower = tower
        self.name = f"{self.model.path}#{tower}"
        self.source = f"two-tower model {self.model.path} ({tower} tower)"

    @property
    def dim(self) -> int:
        """The model's vector size."""
        return self.model.dim

    def _modality_of(self, item: object) -> str | None:
        return "id" if isinstance(item, str) else None

    def _encode_batch(self, batch: list[Any], modality: str = "id") -> np.ndarray:
        ids = [str(i) for i in batch]
        if self.tower == "user":
            return self.model.user_vectors(ids)
        return self.model.item_vectors(ids)

    def encode_query(
        self,
        items: Sequence[Any],
        *,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Queries of the item Space are users: their vectors."""
        tower = self
        if self.tower == "item":
            tower = TwoTowerEncoder(self.model.path, "user", model=self.model)
        return tower.encode(
            items, batch_size=batch_size, on_progress=on_progress, progress=progress
        )


def check_model(path: Path) -> None:
    """Raise a clear error when ``path`` is not a two-tower model folder."""
    if not is_two_tower_directory(path):
        raise EmbedspaceError(
            f"No two-tower model at {path}; train one with 'embedspace train two-tower'."
        )
