"""How a space's HNSW index holds its vectors (``ann``: hnsw, hnsw-fp16, hnsw-sq8), chosen
at creation and kept in its stamp; quantised graphs re-score their candidates from the
full-precision vectors; exact searches read the sidecar's own vectors when it has them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from embedspace.store.hnsw import DamagedIndex, HnswIndex
from tests.truth import true_nearest

N, DIM = 3000, 64


def _data(seed: int = 0, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, DIM))
    return (centres[rng.integers(0, 30, n)] + 0.4 * rng.normal(size=(n, DIM))).astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _space(tmp_path: Path, ann: str, vectors: np.ndarray, name: str = "s") -> es.Space:
    space = es.Space.create(tmp_path / name, encoder="fake", ann_threshold=500, ann=ann)
    ids = [str(i) for i in range(len(vectors))]
    space.add([f"item {i}" for i in ids], ids=ids, vectors=vectors)
    return space


def _truth(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
    """Ids and cosine scores of the k nearest, by numpy (independent of faiss)."""
    scores = _unit(vectors) @ _unit(query[None, :])[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return [str(i) for i in order], scores[order]


@pytest.mark.parametrize("ann", ["hnsw-sq8", "hnsw-fp16"])
def test_a_quantised_index_finds_the_neighbours_with_exact_scores(tmp_path: Path, ann: str) -> None:
    vectors = _data()
    space = _space(tmp_path, ann, vectors)
    assert space.stamp.ann == ann and space.info()["ann"] == ann
    hits = 0
    for query in _data(seed=1, n=40):
        ids, scores = _truth(vectors, query, 10)
        found = space.search(query, k=10)
        hits += len({m.id for m in found} & set(ids))
        for match in found:  # re-scored from the float32 vectors: the true cosine
            true = float(_unit(vectors[int(match.id)][None, :])[0] @ _unit(query[None, :])[0])
            assert match.score == pytest.approx(true, abs=1e-5)
        assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    assert hits / 400 >= 0.95
    space.close()


def test_the_setting_is_kept_and_shapes_the_sidecar(tmp_path: Path) -> None:
    vectors = _data()
    sizes = {}
    for ann in ("hnsw", "hnsw-fp16", "hnsw-sq8"):
        _space(tmp_path, ann, vectors, name=ann).close()
        with es.Space.open(tmp_path / ann) as reopened:
            assert reopened.stamp.ann == ann
            sizes[ann] = reopened.info()["hnsw_index_bytes"]
        graph = HnswIndex.load(tmp_path / ann, DIM, "cosine", kind=ann)
        assert graph is not None and graph.kind == ann and graph.quantised == (ann != "hnsw")
    # 64 floats: 256 bytes a vector as float32, 128 as float16, 64 as codes (+ the links)
    assert sizes["hnsw-sq8"] < sizes["hnsw-fp16"] < sizes["hnsw"]
    assert sizes["hnsw"] - sizes["hnsw-sq8"] >= 0.9 * N * (256 - 64)
    with pytest.raises(DamagedIndex, match="does not match"):  # another kind: rebuilt
        HnswIndex.load(tmp_path / "hnsw", DIM, "cosine", kind="hnsw-sq8")


def test_deleted_and_recent_rows_in_a_quantised_space(tmp_path: Path) -> None:
    vectors = _data()
    space = _space(tmp_path, "hnsw-sq8", vectors)
    query = vectors[7]
    assert space.search(query, k=1)[0].id == "7"
    space.delete(["7"])
    assert "7" not in {m.id for m in space.search(query, k=10)}
    space.add(["new"], ids=["new"], vectors=query[None, :])  # after the graph: searched exactly
    assert space.search(query, k=1)[0].id == "new"
    assert space.search(query, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    space.close()


def test_an_exact_search_reads_the_sidecars_vectors_not_sqlite(tmp_path: Path) -> None:
    vectors = _data()
    _space(tmp_path, "hnsw", vectors).close()
    space = es.Space.open(tmp_path / "s")  # a fresh open, as a new process would
    space.add(["late"], ids=["late"], vectors=vectors[3][None, :] * 2)  # not in the graph yet
    space.delete(["5"])
    for query in (_data(seed=2, n=5), vectors[[3, 5]]):
        for row in query:
            found = space.search(row, k=10, exact=True)
            kept = np.delete(np.vstack([vectors, vectors[3][None, :] * 2]), 5, axis=0)
            names = [str(i) for i in range(N) if i != 5] + ["late"]
            scores = _unit(kept) @ _unit(row[None, :])[0]
            order = np.argsort(-scores, kind="stable")[:10]
            assert {m.id for m in found} == {names[i] for i in order}
            assert [m.score for m in found] == pytest.approx(list(scores[order]), abs=1e-5)
    assert len(space._search._table) == 0  # the vectors were never read from SQLite
    space.close()


def test_bad_settings_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(es.InvalidInput, match="hnsw-sq8"):
        es.Space.create(tmp_path / "x", encoder="fake", ann="ivf")
    with pytest.raises(es.InvalidInput, match="pgvector"):
        es.Space.create(
            "postgresql://nobody@127.0.0.1:1/none", encoder="fake", ann="hnsw-sq8", name="x"
        )


def test_index_takes_ann_for_a_new_space_only(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("id,text\n1,a red apple\n2,a green pear\n", encoding="utf-8")
    runner = CliRunner()
    space = str(tmp_path / "sp")
    made = runner.invoke(
        main, ["index", space, str(table), "--encoder", "hashing", "--ann", "hnsw-sq8"]
    )
    assert made.exit_code == 0, made.output
    shown = runner.invoke(main, ["info", space, "--json"])
    assert '"ann": "hnsw-sq8"' in shown.output
    again = runner.invoke(main, ["index", space, str(table), "--ann", "hnsw"])
    assert again.exit_code == 1
    assert "has a hnsw-sq8 index; --ann only applies when a space is created" in again.output


def test_the_quantised_graph_is_what_answers(tmp_path: Path) -> None:
    space = _space(tmp_path, "hnsw-sq8", _data())
    space.search(_data(seed=1, n=1)[0], k=10)
    graph = space._ann._graph
    assert graph is not None and graph.quantised and graph.trained_on == N
    space.close()


def test_euclidean_and_filtered_searches_of_a_quantised_space(tmp_path: Path) -> None:
    vectors = _data()
    space = es.Space.create(
        tmp_path / "e", encoder="fake", metric="euclidean", ann_threshold=500, ann="hnsw-sq8"
    )
    ids = [str(i) for i in range(N)]
    groups = [{"group": i % 5} for i in range(N)]
    space.add([f"item {i}" for i in ids], ids=ids, vectors=vectors, metadata=groups)
    hits = 0
    for query in _data(seed=3, n=20):
        distances = np.linalg.norm(vectors - query, axis=1)
        order = np.argsort(distances, kind="stable")[:10]
        found = space.search(query, k=10)
        hits += len({m.id for m in found} & {str(i) for i in order})
        for match in found:  # negated true distances, re-scored
            assert match.score == pytest.approx(-distances[int(match.id)], abs=1e-4)
        kept = [m for m in space.search(query, k=10, where={"group": [1, 2, 3, 4]})]
        assert len(kept) == 10 and all(m.metadata["group"] != 0 for m in kept)
    assert hits / 200 >= 0.95
    space.close()


def test_a_quantizer_trained_on_few_rows_is_retrained(tmp_path: Path) -> None:
    vectors = _data()
    space = _space(tmp_path, "hnsw-sq8", vectors[:600])
    space.delete([str(i) for i in range(600)])  # emptied: the graph is rebuilt, untrained
    more = [f"m{i}" for i in range(5)]
    space.add(more, ids=more, vectors=vectors[600:605])
    space.optimize()
    graph = HnswIndex.load(tmp_path / "s", DIM, "cosine", kind="hnsw-sq8")
    assert graph is not None and graph.trained_on == 5 and not graph.needs_training()
    rest = [f"r{i}" for i in range(600, N)]
    space.add(rest, ids=rest, vectors=vectors[600:])
    space.optimize()  # twice the rows it learned from: rebuilt, trained on all
    graph = HnswIndex.load(tmp_path / "s", DIM, "cosine", kind="hnsw-sq8")
    assert graph is not None and graph.trained_on == N - 600 + 5
    hits = 0
    for query in _data(seed=1, n=20):
        hits += len({m.id for m in space.search(query, k=10)} & set(true_nearest(space, query, 10)))
    assert hits / 200 >= 0.95
    space.close()


def test_a_copy_keeps_the_setting_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    from embedspace.ops.export import copy_space

    with _space(tmp_path, "hnsw-sq8", _data(n=50)) as space:
        copy_space(space, tmp_path / "copy")
    with es.Space.open(tmp_path / "copy") as copied:
        assert copied.stamp.ann == "hnsw-sq8" and len(copied) == 50
    connection = sqlite3.connect(tmp_path / "copy" / "space.db")
    with connection:
        connection.execute("UPDATE meta SET value = '\"ivf-pq\"' WHERE key = 'ann'")
    connection.close()
    with pytest.raises(es.EmbedspaceError, match="kind .ivf-pq., which this version of embedspace"):
        es.Space.open(tmp_path / "copy")


@pytest.mark.parametrize(("ann", "rebuilt"), [("hnsw-fp16", False), ("hnsw-sq8", True)])
def test_updates_rebuild_only_an_8bit_graph_that_doubled(
    tmp_path: Path, ann: str, rebuilt: bool
) -> None:
    reports: list[str] = []
    space = es.Space.create(
        tmp_path / "s",
        encoder="fake",
        ann_threshold=1000,
        ann=ann,
        on_progress=lambda stage, done, total: reports.append(stage),
    )
    vectors = _data(n=2400)
    ids = [str(i) for i in range(2400)]
    space.add(ids[:1000], ids=ids[:1000], vectors=vectors[:1000])  # the build, at 1,000
    assert reports and all(r.startswith("Building") for r in reports)
    reports.clear()
    space.add(ids[1000:], ids=ids[1000:], vectors=vectors[1000:])  # 1,400 more: applied
    if rebuilt:  # 2,400 rows >= twice the 1,000 it learned from: rebuilt, never updated first
        assert reports and all(r.startswith("Building") for r in reports)
    else:  # fp16 learns nothing: updated in place, never rebuilt
        assert reports and all(r.startswith("Updating") for r in reports)
    graph = HnswIndex.load(tmp_path / "s", DIM, "cosine", kind=ann)
    assert graph is not None and len(graph.rowids) == 2400
    assert graph.trained_on == (2400 if rebuilt else 0)
    space.close()
