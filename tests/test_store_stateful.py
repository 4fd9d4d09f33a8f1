"""A stateful test (hypothesis): random add / upsert / delete / update_metadata / optimize /
reopen through two Space handles on one folder, with an ANN threshold of 20 so the HNSW
sidecar is built, caught up and reloaded, checked after every step against a plain-Python
model of what the space must hold (ids in order, contents, metadata) and what exact and
HNSW search must find."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import embedspace as es
from embedspace.errors import InvalidInput
from tests.conftest import CountingEncoder

THRESHOLD = 20
WORDS = ["cat", "dog", "rain", "stock", "tree", "moon", "bread", "river", "song", "ice"]
ids = st.integers(0, 39).map(lambda n: f"i{n}")
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
metadata = st.fixed_dictionaries(
    {}, optional={"g": st.integers(0, 2), "tag": st.sampled_from("xy")}
)
batches = st.lists(
    st.tuples(ids, texts, metadata), min_size=1, max_size=12, unique_by=lambda t: t[0]
)


class SpaceModel(RuleBasedStateMachine):
    """Two handles on one space, and the model: ``id -> (content, metadata)`` in order."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="stateful-"))
        self.encoder = CountingEncoder()
        self.path = self.folder / "space"
        first = es.Space.create(self.path, self.encoder, ann_threshold=THRESHOLD)
        self.handles = [first, self._open()]
        self.items: dict[str, tuple[str, dict[str, Any]]] = {}  # insertion order = rowid order

    def _open(self) -> es.Space:
        return es.Space.open(self.path, encoder=self.encoder, ann_threshold=THRESHOLD)

    def teardown(self) -> None:
        for handle in self.handles:
            handle.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _vector(self, text: str) -> np.ndarray:
        vector = self.encoder.encode([text])[0]
        return vector / np.linalg.norm(vector)

    # --------------------------------------------------------------------- writes
    @rule(handle=st.integers(0, 1), batch=batches)
    def add(self, handle: int, batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        space = self.handles[handle]
        taken = [item_id for item_id, _, _ in batch if item_id in self.items]
        if taken:
            with pytest.raises(InvalidInput, match="already in space"):
                space.add(
                    [t for _, t, _ in batch], [i for i, _, _ in batch], [m for *_, m in batch]
                )
            return
        result = space.add(
            [t for _, t, _ in batch], [i for i, _, _ in batch], [m for *_, m in batch]
        )
        assert result.added == len(batch)
        for item_id, text, meta in batch:
            self.items[item_id] = (text, meta)

    @rule(handle=st.integers(0, 1), batch=batches)
    def upsert(self, handle: int, batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        space = self.handles[handle]
        space.upsert([t for _, t, _ in batch], [i for i, _, _ in batch], [m for *_, m in batch])
        moved = []  # new content: a new row (at the end); same content: updated in place
        for item_id, text, meta in batch:
            old = self.items.get(item_id)
            if old is not None and old[0] == text:
                self.items[item_id] = (text, meta)
            else:
                self.items.pop(item_id, None)
                moved.append((item_id, (text, meta)))
        self.items.update(moved)

    @rule(handle=st.integers(0, 1), chosen=st.lists(ids, max_size=6, unique=True))
    def delete(self, handle: int, chosen: list[str]) -> None:
        existing = [item_id for item_id in chosen if item_id in self.items]
        assert self.handles[handle].delete(chosen) == len(existing)
        for item_id in existing:
            del self.items[item_id]

    @precondition(lambda self: self.items)
    @rule(handle=st.integers(0, 1), data=st.data())
    def update_metadata(self, handle: int, data: st.DataObject) -> None:
        chosen = data.draw(st.lists(st.sampled_from(sorted(self.items)), min_size=1, unique=True))
        updates = {item_id: data.draw(metadata) for item_id in chosen}
        assert self.handles[handle].update_metadata(updates) == len(chosen)
        for item_id, fields in updates.items():
            text, meta = self.items[item_id]
            self.items[item_id] = (text, {**meta, **fields})

    @rule(handle=st.integers(0, 1))
    def optimize(self, handle: int) -> None:
        self.handles[handle].optimize()

    @rule(handle=st.integers(0, 1))
    def reopen(self, handle: int) -> None:
        self.handles[handle].close()
        self.handles[handle] = self._open()

    # ---------------------------------------------------------------------- reads
    @invariant()
    def holds_what_the_model_holds(self) -> None:
        for space in self.handles:
            assert len(space) == len(self.items)
            assert space.ids() == list(self.items)
            for item in space.get_many(list(self.items)):
                assert (item.content, item.metadata) == self.items[item.id]

    @precondition(lambda self: self.items)
    @rule(handle=st.integers(0, 1), data=st.data(), k=st.integers(1, 5))
    def search_by_vector(self, handle: int, data: st.DataObject, k: int) -> None:
        space = self.handles[handle]
        target = data.draw(st.sampled_from(sorted(self.items)))
        query = self._vector(self.items[target][0])
        order = list(self.items)
        vectors = np.stack([self._vector(self.items[i][0]) for i in order])
        expected = np.sort(vectors @ query)[::-1][:k]
        found = space.search(query, k=k, exact=True)
        np.testing.assert_allclose([m.score for m in found], expected, atol=1e-5)
        for match in found:  # each id scores what the model says (ties in any order)
            assert match.score == pytest.approx(
                float(vectors[order.index(match.id)] @ query), abs=1e-5
            )
        approximate = space.search(query, k=k)
        assert {m.id for m in approximate} <= set(self.items)  # nothing deleted comes back
        assert approximate[0].score == pytest.approx(1.0, abs=1e-5)  # finds itself (or a twin)
        wanted = data.draw(st.integers(0, 2))
        kept = [i for i in order if self.items[i][1].get("g") == wanted]
        filtered = space.search(query, k=k, where={"g": wanted})
        assert {m.id for m in filtered} <= set(kept)
        assert len(filtered) == min(k, len(kept))


def test_space_against_a_model() -> None:
    """Runs the machine: 50 programs of up to 30 steps."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        SpaceModel,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
