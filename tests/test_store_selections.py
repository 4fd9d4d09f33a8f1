"""A filter's rows are scanned once per data version (``store/selections.py``): a batch of
filtered queries and repeated filtered searches read the metadata once, and every write,
by this handle or another process, or a restored database at the same data version, is
seen by the next search. Each case checks the answers against numpy over SQLite's rows."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.store import database as db
from embedspace.store.selections import Selection, SelectionCache
from embedspace.store.update_lock import LOCK_FILE, update_lock

N, DIM, THRESHOLD = 600, 64, 100
SCAN = "SELECT rowid FROM items WHERE"


def _vectors(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _space(path: Path) -> es.Space:
    space = es.Space.create(path, encoder="fake", ann_threshold=THRESHOLD)
    space.add(
        [f"text {i}" for i in range(N)],
        ids=[f"a{i}" for i in range(N)],
        vectors=_vectors(0, N),
        metadata=[{"colour": ["red", "blue", "green"][i % 3], "n": i} for i in range(N)],
    )
    space.optimize()  # the HNSW sidecar: filters keeping THRESHOLD rows or more walk it
    return space


def _truth(space: es.Space, query: np.ndarray, k: int, colour: str) -> list[str]:
    """The ids of the ``k`` best items of ``colour``, by numpy over the rows in SQLite."""
    rows = space._db.connection.execute("SELECT id, vector, metadata FROM items").fetchall()
    kept = [r for r in rows if json.loads(r[2]).get("colour") == colour]
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in kept]).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = vectors @ (query / np.linalg.norm(query))
    return [kept[i][0] for i in np.argsort(-scores, kind="stable")[:k]]


def _scans(space: es.Space) -> list[str]:
    """Every metadata scan the space's connection runs from now on."""
    seen: list[str] = []
    space._db.connection.set_trace_callback(lambda sql: seen.append(sql) if SCAN in sql else None)
    return seen


@pytest.mark.parametrize("exact", [False, True])
def test_a_batch_and_repeated_searches_scan_the_filter_once(tmp_path: Path, exact: bool) -> None:
    queries = _vectors(5, 40)
    with _space(tmp_path / "s") as space:
        scans = _scans(space)
        together = space._dense_many(queries, 5, {"colour": "red"}, exact, False)
        assert together is not None and len(scans) == 1
        alone = [space.search(q, 5, where={"colour": "red"}, exact=exact) for q in queries]
        assert len(scans) == 1  # the selection is remembered at this data version
        for query, mine, theirs in zip(queries, together, alone, strict=True):
            assert [m.id for m in mine] == [m.id for m in theirs] == _truth(space, query, 5, "red")
        space.search(queries[0], 5, where={"colour": "blue"}, exact=exact)
        assert len(scans) == 2  # another filter is scanned for itself


def test_a_filter_kept_through_hnsw_keeps_its_rowids_and_answers_alike_every_time(
    tmp_path: Path,
) -> None:
    """200 rows kept, above the threshold: every search walks HNSW with the remembered
    rowids allowed (no vectors held), so a query's answer is the same on each ask."""
    queries = _vectors(6, 10)
    with _space(tmp_path / "s") as space:
        scans = _scans(space)
        first = [space.search(q, 5, where={"colour": "green"}) for q in queries]
        again = space._dense_many(queries, 5, {"colour": "green"}, False, False)
        assert len(scans) == 1
        held = list(space._search._selections._kept.values())
        assert len(held) == 1 and held[0].vectors is None and len(held[0].rowids) == 200
        assert again is not None
        for query, one, other in zip(queries, first, again, strict=True):
            assert [m.id for m in one] == [m.id for m in other]
            assert [m.id for m in one] == _truth(space, query, 5, "green")  # small: recall 1
        # an exact search reads (and leaves behind) the vectors; later searches still
        # walk HNSW, so their answers cannot change with what was asked before
        walks: list[int] = []
        walk = space._ann.search
        space._ann.search = lambda *a, **o: walks.append(1) or walk(*a, **o)  # type: ignore[method-assign]
        space.search(queries[0], 5, where={"colour": "green"}, exact=True)
        space.search(queries[1], 5, where={"colour": "green"})
        assert len(walks) == 1 and len(scans) == 1


def test_writes_by_this_handle_or_another_process_are_seen(tmp_path: Path) -> None:
    query = _vectors(7, 1)[0]
    with _space(tmp_path / "s") as space:
        before = space.search(query, 3, where={"colour": "red"}, exact=True)
        assert [m.id for m in before] == _truth(space, query, 3, "red")
        space.add(["mine"], ids=["mine"], vectors=query[None, :], metadata=[{"colour": "red"}])
        assert space.search(query, 3, where={"colour": "red"}, exact=True)[0].id == "mine"
        with es.Space.open(tmp_path / "s") as other:  # another writer (its own connection)
            other.update_metadata({"mine": {"colour": "blue"}, before[0].id: {"colour": "blue"}})
            other.add(["theirs"], ids=["theirs"], vectors=-query[None, :], metadata=[{}])
        found = space.search(query, 3, where={"colour": "red"}, exact=True)
        assert [m.id for m in found] == _truth(space, query, 3, "red")
        assert "mine" not in [m.id for m in found] and before[0].id not in [m.id for m in found]


def test_a_restored_database_at_the_same_data_version_is_scanned_again(tmp_path: Path) -> None:
    """The backup restored under a reader that remembers a selection, then written to up to
    the same data version: the version's token differs, so the filter is read again."""
    folder = tmp_path / "s"
    _space(folder).close()
    backup = tmp_path / "backup.db"
    shutil.copy(folder / db.DATABASE_FILE, backup)
    query = _vectors(8, 1)[0]
    reader = es.Space.open(folder, ann_threshold=THRESHOLD)
    with es.Space.open(folder) as writer:
        writer.add(["lost"], ids=["lost"], vectors=query[None, :], metadata=[{"colour": "red"}])
    assert reader.search(query, 1, where={"colour": "red"}, exact=True)[0].id == "lost"
    version = db.data_version(reader._db.connection)
    source, target = sqlite3.connect(backup), sqlite3.connect(folder / db.DATABASE_FILE)
    source.backup(target)  # the restore
    source.close()
    target.close()
    with update_lock(folder / LOCK_FILE, wait=False), es.Space.open(folder) as writer:
        writer.add(["new"], ids=["new"], vectors=query[None, :], metadata=[{"colour": "blue"}])
    assert db.data_version(reader._db.connection) == version  # the same number again
    found = reader.search(query, 3, where={"colour": "red"}, exact=True)
    assert [m.id for m in found] == _truth(reader, query, 3, "red")
    assert "lost" not in [m.id for m in found]
    reader.close()


def test_the_cache_keeps_the_most_recent_within_its_entries_and_bytes() -> None:
    def chosen(rows: int, held: bool = False) -> Selection:
        rowids = np.arange(rows, dtype=np.int64)
        return Selection(rowids, np.zeros((rows, 4), np.float32) if held else None)

    cache = SelectionCache(entries=2, max_bytes=1000)
    version = (3, "token")
    cache.put(("a", "[]"), version, chosen(10))
    cache.put(("b", "[]"), version, chosen(10))
    assert cache.get(("a", "[]"), version) is not None  # now the most recent
    cache.put(("c", "[]"), version, chosen(10))
    assert cache.get(("b", "[]"), version) is None  # the least recently used went
    assert cache.get(("a", "[]"), version) is not None
    cache.put(("big", "[]"), version, chosen(40, held=True))  # 960 bytes: over with the rest
    assert cache.get(("big", "[]"), version) is not None
    assert cache.get(("a", "[]"), version) is None and cache.get(("c", "[]"), version) is None
    cache.put(("huge", "[]"), version, chosen(200))  # 1,600 bytes: never kept
    assert cache.get(("huge", "[]"), version) is None
    assert cache.get(("big", "[]"), (3, "other")) is None  # another history: all forgotten
    assert cache.get(("big", "[]"), version) is None
