"""The HNSW sidecar: built and kept current by writes, never by a search; recall against
exact search; what searches see between updates; damage; many deletions; the lock."""

from __future__ import annotations

import json
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.store import ann
from embedspace.store.faiss_runtime import load_faiss
from embedspace.store.hnsw import INDEX_FILE, MAGIC, HnswIndex
from embedspace.store.update_lock import LOCK_FILE, update_lock
from tests.truth import true_nearest

N, DIM = 3000, 64


def _data(seed: int = 0, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, DIM))
    return (centres[rng.integers(0, 30, n)] + 0.4 * rng.normal(size=(n, DIM))).astype(np.float32)


def _add(space: es.Space, vectors: np.ndarray, prefix: str = "") -> None:
    ids = [f"{prefix}{i}" for i in range(len(vectors))]
    metadata = [{"group": i % 100} for i in range(len(vectors))]
    space.add([f"item {i}" for i in ids], ids=ids, metadata=metadata, vectors=vectors)


def _space(tmp_path: Path, vectors: np.ndarray, **kw: object) -> es.Space:
    space = es.Space.create(tmp_path / "ann", encoder="fake", ann_threshold=500, **kw)  # type: ignore[arg-type]
    _add(space, vectors)
    return space


def _recall(space: es.Space, queries: np.ndarray, k: int = 10, **kw: object) -> float:
    hits = 0
    for query in queries:
        found = {m.id for m in space.search(query, k=k, **kw)}  # type: ignore[arg-type]
        if kw:  # filtered: the exact filtered search (its own path) is the truth
            exact = {m.id for m in space.search(query, k=k, exact=True, **kw)}  # type: ignore[arg-type]
        else:  # numpy over SQLite's vectors, not the sidecar's own exact search
            exact = set(true_nearest(space, query, k))
        hits += len(found & exact)
    return hits / (k * len(queries))


def _stamp_mtime(folder: Path) -> int:
    return (folder / INDEX_FILE).stat().st_mtime_ns


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_write_that_reaches_the_threshold_builds_the_sidecar(
    tmp_path: Path, metric: str
) -> None:
    reports: list[tuple[str, int, int | None]] = []
    space = es.Space.create(
        tmp_path / "ann",
        encoder="fake",
        metric=metric,
        ann_threshold=2000,
        on_progress=lambda *report: reports.append(report),
    )
    vectors = _data()
    _add(space, vectors[:1500])
    assert not (tmp_path / "ann" / INDEX_FILE).exists() and reports == []  # below: exact
    _add(space, vectors[1500:], prefix="b")  # 3000 items: past the threshold
    saved = HnswIndex.load(tmp_path / "ann", DIM, metric)
    assert saved is not None and len(saved.rowids) == N
    assert saved.version == space.info()["data_version"]
    assert reports[0] == ("Building the HNSW index of ann", 0, N)
    assert reports[-1] == ("Building the HNSW index of ann", N, N)
    assert _recall(space, _data(seed=1, n=40)) >= 0.95


def test_a_search_never_builds_or_writes_the_sidecar(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = _data()
    # Written by a process that never reached its (higher) threshold: no sidecar.
    es.Space.create(tmp_path / "ann", encoder="fake", ann_threshold=10**9).close()
    with es.Space.open(tmp_path / "ann", ann_threshold=10**9) as writer:
        _add(writer, vectors)
    space = es.Space.open(tmp_path / "ann", ann_threshold=500)
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        found = space.search(vectors[42], k=5)
        space.search(vectors[7], k=5)
    assert found == space.search(vectors[42], k=5, exact=True) and found[0].id == "42"
    assert caplog.text.count("has no HNSW index yet; searching exactly") == 1  # said once
    assert not (tmp_path / "ann" / INDEX_FILE).exists()
    space.optimize()
    assert HnswIndex.load(tmp_path / "ann", DIM, "cosine") is not None
    assert space.search(vectors[42], k=1)[0].id == "42"


def test_recent_writes_are_searched_before_the_sidecar_is_rewritten(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    folder = tmp_path / "ann"
    before = _stamp_mtime(folder)
    fresh = _data(seed=5, n=3)
    space.add(["new a", "new b", "new c"], ids=["na", "nb", "nc"], vectors=fresh)
    assert space.search(fresh[1], k=1)[0].id == "nb"
    space.delete(["nb", "0"])
    assert "nb" not in {m.id for m in space.search(fresh[1], k=20)}
    assert "0" not in {m.id for m in space.search(space.vectors(["1"])[0], k=N)}
    # Another process sees the same: the saved graph, minus deletions, plus recent rows.
    other = es.Space.open(folder, ann_threshold=500)
    assert other.search(fresh[2], k=1)[0].id == "nc"
    assert {"nb", "0"}.isdisjoint(m.id for m in other.search(fresh[1], k=N))
    assert other._ann._graph is not None and other._ann._graph._mapped  # read, not copied
    # A few changes do not rewrite a file as large as all the vectors; optimize() does.
    assert _stamp_mtime(folder) == before
    space.optimize()
    saved = HnswIndex.peek(folder)
    assert saved is not None and saved.version == space.info()["data_version"]


def test_writes_update_the_sidecar_incrementally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = _space(tmp_path, _data())
    builds: list[int] = []
    original = ann.AnnIndex._build

    def counted(self: ann.AnnIndex, *args: object) -> HnswIndex:
        builds.append(1)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ann.AnnIndex, "_build", counted)
    more = _data(seed=9, n=ann.PENDING_MIN)
    _add(space, more, prefix="m")  # enough to apply at once, without any search
    saved = HnswIndex.load(tmp_path / "ann", DIM, "cosine")
    assert saved is not None and len(saved.rowids) == N + ann.PENDING_MIN
    assert saved.version == space.info()["data_version"] and builds == []
    reopened = es.Space.open(tmp_path / "ann", ann_threshold=500)
    assert reopened.search(more[17], k=1)[0].id == "m17"
    assert len(reopened._ann._recent) == 0  # all of it from the graph


def test_a_damaged_sidecar_is_searched_exactly_and_rebuilt_by_the_next_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = _data()
    _space(tmp_path, vectors).close()
    folder = tmp_path / "ann"
    (graph,) = folder.glob("hnsw-*.faiss")
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, in the middle of the vectors
    graph.write_bytes(bytes(data))
    reopened = es.Space.open(folder, ann_threshold=500)
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        assert reopened.search(vectors[42], k=3) == reopened.search(vectors[42], k=3, exact=True)
    assert "damaged (graph file checksum mismatch); searching exactly" in caplog.text
    assert graph.read_bytes() == bytes(data)  # the search wrote nothing
    reopened.add(["one more"], ids=["extra"], vectors=_data(seed=3, n=1))
    rebuilt = HnswIndex.load(folder, DIM, "cosine")
    assert rebuilt is not None and len(rebuilt.rowids) == N + 1
    assert list(folder.glob("hnsw-*.faiss")) == [folder / str(rebuilt.graph_name)]


@pytest.mark.parametrize("target", ["stamp", "graph"])
@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "delete"])
def test_every_kind_of_damage_is_detected_and_repaired(
    tmp_path: Path, damage: str, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = _data()
    _space(tmp_path, vectors).close()
    folder = tmp_path / "ann"
    (graph,) = folder.glob("hnsw-*.faiss")
    file = folder / INDEX_FILE if target == "stamp" else graph
    if damage == "delete":
        file.unlink()
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
    expected = "no HNSW index yet" if (damage, target) == ("delete", "stamp") else "damaged"
    assert expected in caplog.text
    reopened.optimize()
    assert HnswIndex.load(folder, DIM, "cosine") is not None
    assert len(list(folder.glob("hnsw-*.faiss"))) == 1  # the old graph was cleaned up


def test_many_deletions_trigger_a_rebuild(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    space.delete([str(i) for i in range(0, N, 3)])  # a third: past the 20% tombstone limit
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
    fresh = _data(seed=4, n=2)  # recent rows are filtered too
    space.add(["f0", "f1"], ids=["f0", "f1"], vectors=fresh, metadata=[{"group": 1}, {"group": 0}])
    assert space.search(fresh[1], k=1, where={"group": broad})[0].id != "f1"
    assert space.search(fresh[0], k=1, where={"group": broad})[0].id == "f0"


def test_a_writer_leaves_the_update_to_the_process_holding_the_lock(tmp_path: Path) -> None:
    space = _space(tmp_path, _data())
    folder = tmp_path / "ann"
    before = HnswIndex.peek(folder)
    with update_lock(folder / LOCK_FILE, wait=False) as locked:
        assert locked
        _add(space, _data(seed=6, n=ann.PENDING_MIN), prefix="x")  # would update; can't
        assert HnswIndex.peek(folder) == before
        assert space.search(_data(seed=6, n=ann.PENDING_MIN)[5], k=1)[0].id == "x5"
    space.add(["after"], ids=["after"], vectors=_data(seed=7, n=1))  # the lock is free again
    after = HnswIndex.peek(folder)
    assert after is not None and after.count == N + ann.PENDING_MIN + 1


def test_a_sidecar_from_before_the_binding_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = _data()
    _space(tmp_path, vectors).close()
    folder = tmp_path / "ann"
    data = (folder / INDEX_FILE).read_bytes()
    start = len(MAGIC) + 4
    (size,) = struct.unpack("<I", data[len(MAGIC) : start])
    header = json.loads(data[start : start + size])
    for key in ("space_id", "token"):  # as the format before the binding wrote it
        del header[key]
    body = data[start + size : -4]
    header["crc32"] = zlib.crc32(body)
    encoded = json.dumps(header).encode()
    old = b"EMBEDSPACE-HNSW\x02" + struct.pack("<I", len(encoded)) + encoded + body
    (folder / INDEX_FILE).write_bytes(old)
    reopened = es.Space.open(folder, ann_threshold=500)
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        assert reopened.search(vectors[5], k=3) == reopened.search(vectors[5], k=3, exact=True)
    assert "written by an older embedspace" in caplog.text and reopened._ann._graph is None
    reopened.add(["one more"], ids=["extra"], vectors=_data(seed=3, n=1))  # rebuilds it
    stamp = HnswIndex.peek(folder)
    assert stamp is not None and stamp.count == N + 1 and stamp.token is not None


def test_a_text_query_reads_the_sidecar_while_it_is_embedded(tmp_path: Path) -> None:
    space = es.Space.create(tmp_path / "ann", encoder="fake", ann_threshold=500)
    texts = [f"item number {i} about topic {i % 37}" for i in range(2000)]
    space.add(texts, ids=[str(i) for i in range(2000)])
    space.close()
    reopened = es.Space.open(tmp_path / "ann", ann_threshold=500)
    found = reopened.search("item number 1234 about topic 13", k=5)
    graph = reopened._ann._graph
    assert graph is not None and graph._mapped  # read (ahead), memory-mapped
    assert found[0].id == "1234"
    exact = reopened.search("item number 1234 about topic 13", k=10, exact=True)
    # the same answer as exact search, up to the order of equal scores: the hashing encoder
    # gives 827 and 753 the same score here, and which of the two comes fifth depends on
    # faiss's SIMD code (AVX2 and AVX-512 break the tie differently)
    assert [m.score for m in found] == pytest.approx([m.score for m in exact[:5]], abs=1e-5)
    tied_or_better = {m.id for m in exact if m.score >= exact[4].score - 1e-6}
    assert {m.id for m in found} <= tied_or_better


@pytest.mark.parametrize(
    "failure", [OSError(28, "No space left on device"), RuntimeError("fwrite failed")]
)
def test_a_failed_sidecar_write_fails_neither_the_add_nor_searches_nor_optimize(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
) -> None:
    faiss = load_faiss()

    def full_disk(*args: object) -> None:
        raise failure

    monkeypatch.setattr(faiss, "write_index", full_disk)  # as faiss meets a full disk
    vectors = _data()
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        space = _space(tmp_path, vectors)  # reaches the threshold: the build cannot be saved
    assert len(space) == N and "Could not save the HNSW index of 'ann'" in caplog.text
    folder = tmp_path / "ann"
    assert not (folder / INDEX_FILE).exists() and list(folder.glob(".hnsw-*.tmp")) == []
    graph = space._ann._graph
    assert graph is not None and len(graph.rowids) == N  # kept in memory, and searched
    assert space.search(vectors[9], k=1)[0].id == "9"
    more = _data(seed=8, n=50)
    _add(space, more, prefix="m")
    space.optimize()  # cannot save either: a warning, not an error
    assert space._ann._graph is not None and len(space._ann._graph.rowids) == N + 50
    queries = _data(seed=11, n=10)
    assert _recall(space, queries) >= 0.95
    assert space.search(more[3], k=1)[0].id == "m3"
    monkeypatch.undo()  # the disk has room again: the next optimize() saves it
    space.optimize()
    saved = HnswIndex.peek(folder)
    assert saved is not None and saved.count == N + 50


def test_a_space_emptied_by_deletions_searches_to_nothing(tmp_path: Path) -> None:
    vectors = _data(n=600)
    space = _space(tmp_path, vectors)
    space.delete([str(i) for i in range(600)])
    assert HnswIndex.peek(tmp_path / "ann") is not None  # rebuilt, empty
    assert space.search(vectors[0], k=3) == []
    assert es.Space.open(tmp_path / "ann", ann_threshold=0).search(vectors[0], k=3) == []
