"""The data behind the pictures: maps of a space (sampled, coloured) and sentence heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

import embedspace as es
from embedspace.errors import InvalidInput
from embedspace.ops.picture_data import map_snapshot, sentence_similarities


def _space(name: str, count: int) -> es.Space:
    space = es.Space.create(name, encoder="fake")
    space.add(
        [f"note {i}   with\nspaces" for i in range(count)],
        ids=[f"n{i}" for i in range(count)],
        metadata=[{"kind": ("even", "odd")[i % 2]} if i < count - 1 else {} for i in range(count)],
    )
    return space


def test_a_map_samples_the_same_items_for_a_seed_and_colours_them() -> None:
    with _space("notes", 50) as space:
        snapshot = space.snapshot()
    full = map_snapshot(snapshot, name="notes", colour="kind", limit=100)
    assert not full.sampled and full.total == 50 and full.coordinates.shape == (50, 2)
    assert full.texts[0] == "note 0 with spaces" and full.fields == ["kind"]
    assert full.colours is not None and full.colours[-1] == "(none)"
    assert set(full.colours[:-1]) == {"odd", "even"}
    some = map_snapshot(snapshot, name="notes", dims=3, limit=20, seed=1)
    assert some.sampled and len(some.ids) == 20 and some.coordinates.shape == (20, 3)
    assert some.ids == map_snapshot(snapshot, name="notes", dims=3, limit=20, seed=1).ids
    assert some.colours is None
    with pytest.raises(InvalidInput, match="fields: kind"):
        map_snapshot(snapshot, name="notes", colour="colour")
    with pytest.raises(InvalidInput, match="at least 2"):
        map_snapshot(snapshot, name="notes", limit=1)
    with _space("one", 1) as space, pytest.raises(InvalidInput, match="fewer than two"):
        map_snapshot(space.snapshot(), name="one")


def test_sentence_similarities_are_cosine_and_bounded() -> None:
    scores = sentence_similarities(["a cat", "a cat", "stocks"], "fake")
    assert scores.shape == (3, 3) and scores.dtype == np.float32
    assert scores[0, 1] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(scores, scores.T, atol=1e-6)
    with pytest.raises(InvalidInput, match="at least two"):
        sentence_similarities(["alone"], "fake")
    with pytest.raises(InvalidInput, match="up to 60"):
        sentence_similarities([str(i) for i in range(61)], "fake")
