"""The HNSW sidecar: recall against exact search, incremental updates, damage and staleness."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.store.hnsw import INDEX_FILE, HnswIndex

N, DIM = 3000, 64


def _data(seed: int = 0, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, DIM))
    return (centres[rng.integers(0, 30, n)] + 0.4 * rng.normal(size=(n, DIM))).astype(np.float32)


def _space(tmp_path: Path, vectors: np.ndarray, **kw: object) -> es.Space:
    space = es.Space.create(tmp_path / "ann", encoder="fake", ann_threshold=500, **kw)  # type: ignore[arg-type]
    ids = [str(i) for i in range(len(vectors))]
    metadata = [{"group": i % 100} for i in range(len(vectors))]
    space.add([f"item {i}" for i in ids], ids=ids, metadata=metadata, vectors=vectors)
    return space


def _recall(space: es.Space, queries: np.ndarray, k: int = 10, **kw: object) -> float:
    hits = 0
    for query in queries:
        ann = {m.id for m in space.search(query, k=k, **kw)}  # type: ignore[arg-type]
        exact = {m.id for m in space.search(query, k=k, exact=True, **kw)}  # type: ignore[arg-type]
        hits += len(ann & exact)
    return hits / (k * len(queries))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_ann_recall_against_exact_and_the_sidecar_is_saved(tmp_path: Path, metric: str) -> None:
    space = _space(tmp_path, _data(), metric=metric)
    assert not (tmp_path / "ann" / INDEX_FILE).exists()
    assert _recall(space, _data(seed=1, n=40)) >= 0.95
    saved = HnswIndex.load(tmp_path / "ann", DIM, metric)
    assert saved is not None and saved.version == space.info()["data_version"]


def test_new_and_deleted_items_are_seen_incrementally(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    space.optimize()
    before = (tmp_path / "ann" / INDEX_FILE).stat().st_mtime_ns
    fresh = _data(seed=5, n=3)
    space.add(["new a", "new b", "new c"], ids=["na", "nb", "nc"], vectors=fresh)
    assert space.search(fresh[1], k=1)[0].id == "nb"
    space.delete(["nb", "0"])
    assert "nb" not in {m.id for m in space.search(fresh[1], k=20)}
    assert "0" not in {m.id for m in space.search(space.vectors(["1"])[0], k=N)}
    # A few changes are applied in memory; the sidecar is rewritten only for many.
    assert (tmp_path / "ann" / INDEX_FILE).stat().st_mtime_ns == before
    space.optimize()
    saved = HnswIndex.load(tmp_path / "ann", DIM, "cosine")
    assert saved is not None and saved.version == space.info()["data_version"]


def test_an_up_to_date_sidecar_is_memory_mapped_and_copied_before_adding(tmp_path: Path) -> None:
    vectors = _data()
    space = _space(tmp_path, vectors)
    space.optimize()
    space.close()
    reopened = es.Space.open(tmp_path / "ann", ann_threshold=500)
    assert reopened.search(vectors[9], k=1)[0].id == "9"
    assert reopened._hnsw is not None and reopened._hnsw._mapped
    fresh = _data(seed=8, n=1)
    reopened.add(["one more"], ids=["extra"], vectors=fresh)
    assert reopened.search(fresh[0], k=1)[0].id == "extra"
    assert not reopened._hnsw._mapped


def test_a_stale_sidecar_catches_up_in_a_new_process(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    space.optimize()
    fresh = _data(seed=6, n=2)
    space.add(["late 1", "late 2"], ids=["l1", "l2"], vectors=fresh)
    space.close()
    reopened = es.Space.open(tmp_path / "ann", ann_threshold=500)
    assert reopened.search(fresh[0], k=1)[0].id == "l1"


@pytest.mark.parametrize("target", ["stamp", "graph"])
@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "delete"])
def test_a_damaged_sidecar_is_rebuilt(
    tmp_path: Path, damage: str, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = _data()
    space = _space(tmp_path, vectors)
    space.optimize()
    space.close()
    folder = tmp_path / "ann"
    (graph,) = folder.glob("hnsw-*.faiss")
    file = folder / INDEX_FILE if target == "stamp" else graph
    if damage == "delete":
        file.unlink()
        data = None
    else:
        data = bytearray(file.read_bytes())
        if damage == "garbage":
            data = bytearray(b"\x00" * 100)
        elif damage == "truncate":
            data = data[: len(data) // 2]
        else:
            data[len(data) // 2] ^= 0xFF
        file.write_bytes(bytes(data))
    reopened = es.Space.open(folder, ann_threshold=500)
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        assert reopened.search(vectors[42], k=1)[0].id == "42"
    if not (damage == "delete" and target == "stamp"):  # no stamp is "missing", not damaged
        assert "damaged" in caplog.text
    assert HnswIndex.load(folder, DIM, "cosine") is not None
    assert len(list(folder.glob("hnsw-*.faiss"))) == 1  # the old graph was cleaned up


def test_many_deletions_trigger_a_rebuild(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    space.optimize()
    space.delete([str(i) for i in range(0, N, 3)])  # a third: past the 20% tombstone limit
    space.optimize()
    saved = HnswIndex.load(tmp_path / "ann", DIM, "cosine")
    assert saved is not None and len(saved.rowids) == len(space) and saved.alive.all()


def test_selective_filters_keep_their_recall(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    queries = _data(seed=2, n=20)
    # 1% of the items match: searched exactly, so recall is perfect.
    assert _recall(space, queries, where={"group": 7}) == 1.0
    broad = [g for g in range(100) if g % 5]  # 80% match: HNSW with a selector
    assert _recall(space, queries, where={"group": broad}) >= 0.9
    results = space.search(queries[0], k=10, where={"group": broad})
    assert len(results) == 10 and all(m.metadata["group"] in broad for m in results)
