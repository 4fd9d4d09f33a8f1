"""The HNSW sidecar never answers wrongly, silently (issue 12, points 1 and 3): it is bound
to the database it was built from (space id, data version, that version's token, all under
the stamp's checksum), and a database that went backwards, another history, another
space's sidecar or a flipped byte is reported and rebuilt. Saves never change a file in
place; leftovers of killed saves are removed; a read-only space keeps its graph in memory.
Each case asserts that HNSW answers equal exact ones."""

from __future__ import annotations

import json
import logging
import mmap
import os
import shutil
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import mounted

import embedspace as es
from embedspace.store import database as db
from embedspace.store.hnsw import INDEX_FILE, MAGIC, HnswIndex
from embedspace.store.update_lock import LOCK_FILE, update_lock
from tests.truth import true_nearest

N, DIM, THRESHOLD = 1200, 64, 500


def _data(seed: int, n: int) -> np.ndarray:
    """Points around the same 20 centres for every seed (queries near stored items)."""
    centres = np.random.default_rng(0).normal(size=(20, DIM))
    rng = np.random.default_rng(seed + 1000)
    return (centres[rng.integers(0, 20, n)] + 0.4 * rng.normal(size=(n, DIM))).astype(np.float32)


def _add(space: es.Space, vectors: np.ndarray, prefix: str) -> None:
    ids = [f"{prefix}{i}" for i in range(len(vectors))]
    space.add([f"text of {i}" for i in ids], ids=ids, vectors=vectors)


def _space(path: Path, seed: int = 0) -> es.Space:
    space = es.Space.create(path, encoder="fake", ann_threshold=THRESHOLD)
    _add(space, _data(seed, N), "a")
    space.optimize()
    return space


def _open(path: Path) -> es.Space:
    return es.Space.open(path, ann_threshold=THRESHOLD)


def _agrees(space: es.Space, queries: np.ndarray, k: int = 5) -> None:
    """HNSW answers, and exact ones, are the true answers (these small spaces: recall 1 at
    ef 96); the truth is numpy's, over the vectors in SQLite."""
    for query in queries:
        truth = true_nearest(space, query, k)
        assert [m.id for m in space.search(query, k=k)] == truth
        assert [m.id for m in space.search(query, k=k, exact=True)] == truth


def _batches(space: es.Space, prefix: str, seed: int) -> np.ndarray:
    """Three write batches (three data versions); returns their vectors."""
    vectors = _data(seed, 30)
    for b in range(3):
        _add(space, vectors[b * 10 : (b + 1) * 10], f"{prefix}{b}-")
    return vectors


def _header(folder: Path) -> tuple[int, dict[str, object]]:
    data = (folder / INDEX_FILE).read_bytes()
    (size,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    return start, json.loads(data[start : start + size])


def test_the_stamp_binds_the_sidecar_to_its_database(tmp_path: Path) -> None:
    space = _space(tmp_path / "s")
    _, header = _header(tmp_path / "s")
    connection = space._db.connection
    version = db.data_version(connection)
    assert header["space_id"] == db.space_id(connection) and header["version"] == version
    assert header["token"] == db.version_token(connection, version) is not None
    other = _space(tmp_path / "t")
    assert db.space_id(other._db.connection) != header["space_id"]


def test_a_restored_older_database_written_to_since_is_never_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: an older space.db restored, then three batches bring the data
    version back to the sidecar's, reusing row numbers. No writer could update the sidecar
    (the lock is held), so a reader meets it as it is: refused, searched exactly."""
    folder = tmp_path / "s"
    _space(folder).close()
    backup = tmp_path / "backup.db"
    shutil.copy(folder / db.DATABASE_FILE, backup)  # closed cleanly: no -wal to copy
    with _open(folder) as space:
        lost = _batches(space, "lost", seed=7)
        space.optimize()
    saved = HnswIndex.peek(folder)
    shutil.copy(backup, folder / db.DATABASE_FILE)  # the restore
    assert saved is not None
    with update_lock(folder / LOCK_FILE, wait=False) as locked:
        assert locked
        writer = _open(folder)
        new = _batches(writer, "new", seed=8)
        assert db.data_version(writer._db.connection) == saved.version  # the same version
        reader = _open(folder)
        with caplog.at_level(logging.WARNING, logger="embedspace"):
            _agrees(reader, np.concatenate([new, lost[:5], _data(9, 5)]))
    assert "history differs" in caplog.text and "rebuilt from the database" in caplog.text
    assert reader.search(lost[3], k=1)[0].id not in {f"lost0-{i}" for i in range(10)}
    assert reader.search(lost[3], k=1)[0].score < 0.999
    assert [m.id for m in reader.search(new[12], k=1)] == ["new1-2"]
    writer.add(["after"], ids=["after"], vectors=_data(10, 1))  # the lock is free: rebuilt
    rebuilt = HnswIndex.peek(folder)
    assert rebuilt is not None and rebuilt.count == N + 31
    again = _open(folder)
    _agrees(again, np.concatenate([new, lost[:5]]))
    assert again._ann._graph is not None  # the rebuilt sidecar is served again


def test_a_restore_seen_by_the_writing_process_is_reported_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "s"
    _space(folder).close()
    backup = tmp_path / "backup.db"
    shutil.copy(folder / db.DATABASE_FILE, backup)
    with _open(folder) as space:
        _batches(space, "lost", seed=7)
        space.optimize()
    shutil.copy(backup, folder / db.DATABASE_FILE)
    space = _open(folder)
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        new = _batches(space, "new", seed=8)  # the first write rebuilds
    assert "went back from data version" in caplog.text
    assert "rebuilding it from the database" in caplog.text
    _agrees(space, new)
    graph = space._ann._graph  # rebuilt by the first batch; the other two: recent rows
    assert graph is not None and len(graph.rowids) + len(space._ann._recent) == N + 30


def test_a_process_holding_the_graph_notices_the_database_going_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A long-running reader that mapped the graph and holds recent rows: the database is
    restored under it (SQLite's backup API, so its connection sees the restored file), then
    written to up to the same data version (row numbers reused) while the sidecar cannot be
    updated. Its graph, recent rows and exact vectors are all dropped, never served."""
    folder = tmp_path / "s"
    _space(folder).close()
    backup = tmp_path / "backup.db"
    shutil.copy(folder / db.DATABASE_FILE, backup)
    reader = _open(folder)
    with _open(folder) as writer:
        lost = _batches(writer, "lost", seed=7)  # below the pending limit: recent rows
    _agrees(reader, lost[:5])  # the reader holds the graph and these recent rows
    # ... and every vector, as a reader that searched exactly before the sidecar was built
    # does (exact searches now read the sidecar's own vectors while it has them)
    reader._search._refresh_table(reader._db.connection)
    assert reader._ann._graph is not None and len(reader._ann._recent) == 30
    version = db.data_version(reader._db.connection)
    source, target = sqlite3.connect(backup), sqlite3.connect(folder / db.DATABASE_FILE)
    source.backup(target)  # the restore
    source.close()
    target.close()
    with update_lock(folder / LOCK_FILE, wait=False), caplog.at_level(logging.WARNING):
        with _open(folder) as writer:
            new = _batches(writer, "new", seed=8)
        assert db.data_version(reader._db.connection) == version  # the same version again
        _agrees(reader, np.concatenate([new, lost[:5]]))
    assert "history differs" in caplog.text
    assert "changed under this process" in caplog.text  # the exact vectors, read again
    assert reader.search(lost[3], k=1)[0].score < 0.999


def test_a_space_with_its_wal_deleted_is_reported_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The -wal file lost (a copy made without it): the database is older than its
    sidecar. Searched correctly, said, and rebuilt by the next write."""
    folder = tmp_path / "s"
    _space(folder).close()  # closing folds the log into space.db
    space = _open(folder)
    space._db.connection.execute("PRAGMA wal_autocheckpoint = 0")  # keep writes in the log
    lost = _data(7, 30)
    _add(space, lost, "lost")
    space.optimize()  # the sidecar reflects the logged writes
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in folder.iterdir():
        if not file.name.endswith(("-wal", "-shm")):
            shutil.copy(file, copy / file.name)
    space.close()
    restored = _open(copy)
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        _agrees(restored, np.concatenate([lost[:5], _data(9, 5)]))
        assert restored.get("lost3") is None
        assert "went back from data version" in caplog.text
        new = _batches(restored, "new", seed=8)
    _agrees(restored, np.concatenate([new, lost[:5]]))
    rebuilt = HnswIndex.peek(copy)  # by the first of the three batches
    assert rebuilt is not None and rebuilt.count == N + 10 and rebuilt.version == 2


def test_swapped_sidecars_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two spaces of the same size and data version: only the space id tells them apart."""
    first, second = _space(tmp_path / "one", seed=1), _space(tmp_path / "two", seed=2)
    assert db.data_version(first._db.connection) == db.data_version(second._db.connection)
    first.close()
    second.close()
    for name in os.listdir(tmp_path / "two"):
        if name.startswith("hnsw"):
            (tmp_path / "two" / name).unlink()
    for name in os.listdir(tmp_path / "one"):
        if name.startswith("hnsw"):
            shutil.copy(tmp_path / "one" / name, tmp_path / "two" / name)
    two = _open(tmp_path / "two")
    with caplog.at_level(logging.WARNING, logger="embedspace"):
        _agrees(two, _data(2, 10))
    assert "built for another space" in caplog.text and two._ann._graph is None
    two.optimize()
    assert two._ann._graph is not None
    _agrees(two, _data(2, 10))


@pytest.mark.parametrize("where", ["version", "token", "space_id", "max_rowid", "every byte"])
def test_a_changed_header_is_detected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """The issue's case: "version": 40 -> 41 in the JSON header hid the newest items."""
    folder = tmp_path / "s"
    space = _space(folder)
    _add(space, _data(5, 20), "recent")  # below the pending limit: not in the graph
    space.close()
    data = (folder / INDEX_FILE).read_bytes()
    start, header = _header(folder)
    text = data[start : start + len(json.dumps(header))].decode()
    if where == "every byte":
        positions = range(len(MAGIC) + 4, start + len(text))
    else:
        key = f'"{where}": '
        positions = range(
            text.index(key) + len(key) + start, text.index(key) + len(key) + start + 1
        )
    queries = np.concatenate([_data(5, 20)[:3], _data(0, 3)])
    for position in positions:
        changed = bytearray(data)
        changed[position] ^= 0x01  # one flipped bit ("40" -> "41")
        (folder / INDEX_FILE).write_bytes(bytes(changed))
        caplog.clear()
        reopened = _open(folder)
        with caplog.at_level(logging.WARNING, logger="embedspace"):
            if where != "every byte":
                _agrees(reopened, queries)
            else:
                reopened.search(queries[0], k=3)
        assert reopened._ann._graph is None and "damaged (checksum mismatch)" in caplog.text
        reopened.close()


def test_saves_never_change_a_file_in_place(tmp_path: Path) -> None:
    """A reader that mapped the graph keeps its bytes (and inode) while writers save."""
    folder = tmp_path / "s"
    space = _space(folder)
    stamp = HnswIndex.peek(folder)
    assert stamp is not None
    graph = folder / stamp.graph
    files = {
        path: (os.stat(path).st_ino, path.read_bytes()) for path in (graph, folder / INDEX_FILE)
    }
    handles = [open(path, "rb") for path in files]  # noqa: SIM115 - held across the saves
    views = [mmap.mmap(h.fileno(), 0, access=mmap.ACCESS_READ) for h in handles]
    reader = _open(folder)
    reader.search(_data(0, 1)[0], k=3)
    assert reader._ann._graph is not None and reader._ann._graph._mapped
    for round_ in range(3):
        _add(space, _data(20 + round_, 1000), f"r{round_}-")  # past the pending limit: saved
        space.optimize()
    for (path, (inode, content)), view in zip(files.items(), views, strict=True):
        assert bytes(view) == content  # what a mapping of the old file sees is unchanged
        assert not path.exists() or os.stat(path).st_ino != inode
    _agrees(reader, _data(21, 5))  # the reader moves on to the new graph
    for view, handle in zip(views, handles, strict=True):
        view.close()
        handle.close()


def test_leftovers_of_killed_saves_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    _space(folder).close()
    leftovers = [
        folder / ".hnsw-99999999-hnsw-0123456789ab.faiss.tmp",
        folder / ".hnsw-99999999-x1y2z3.tmp",
        folder / ".hnsw-abc.tmp",  # the name the format before pids used
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file" * 1000)
    orphan = folder / "hnsw-ffffffffffff.faiss"  # renamed, but the stamp never named it
    orphan.write_bytes(b"a graph no stamp names")
    with update_lock(folder / LOCK_FILE, wait=False):  # a save is running: left alone
        _open(folder).close()
        assert all(leftover.exists() for leftover in leftovers)
    space = _open(folder)  # no save running: opening the space tidies up
    assert not any(leftover.exists() for leftover in leftovers) and not orphan.exists()
    leftovers[0].write_bytes(b"killed again")
    _add(space, _data(3, 1000), "b")  # the next save removes them too
    assert list(folder.glob(".hnsw-*")) == [] and len(list(folder.glob("hnsw-*.faiss"))) == 1
    _agrees(space, _data(3, 5))


def test_a_read_only_space_keeps_its_index_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Sound sidecar: mapped and searched. Damaged or missing: built in memory (it cannot
    be saved), with a warning; optimize() is fine."""
    source = tmp_path / "source"
    space = _space(source / "s")
    recent = _data(4, 20)
    _add(space, recent, "recent")
    space.close()
    with mounted("ro", tmp_path / "view", source=source) as view:
        reader = _open(view / "s")
        _agrees(reader, recent[:5])
        assert reader._ann._graph is not None and reader._ann._graph._mapped
        reader.optimize()  # brings the graph up to date in memory; saves nothing
        assert len(reader._ann._graph.rowids) == N + 20 and len(reader._ann._recent) == 0
        reader.close()
    (source / "s" / INDEX_FILE).write_bytes(b"damaged")
    with (
        mounted("ro", tmp_path / "view", source=source) as view,
        caplog.at_level(logging.WARNING, logger="embedspace"),
    ):
        reader = _open(view / "s")
        _agrees(reader, recent[:5])
        assert "builds it in memory" in caplog.text
        assert reader._ann._graph is not None and reader._ann._graph.graph_name is None


def test_an_older_space_gets_its_id_and_tokens_on_its_next_write(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    _space(folder).close()
    connection = sqlite3.connect(folder / db.DATABASE_FILE, isolation_level=None)
    connection.executescript(  # back to schema 1, as an older embedspace left it
        """
        DROP TRIGGER versions_on_insert; DROP TRIGGER versions_on_update;
        DROP TABLE versions; DELETE FROM meta WHERE key = 'space_id';
        DROP TRIGGER items_fts_insert; DROP TRIGGER items_fts_delete;
        DROP TRIGGER items_fts_update; DROP TABLE items_fts; DROP INDEX items_document;
        PRAGMA user_version = 1;
        """
    )
    connection.close()
    space = _open(folder)
    connection = space._db.connection
    version = db.data_version(connection)
    assert db.space_id(connection) is not None and db.version_token(connection, version)
    new = _batches(space, "new", seed=8)  # the old stamp's binding is refused: rebuilt
    _agrees(space, new)
    stamp = HnswIndex.peek(folder)
    assert stamp is not None and stamp.space_id == db.space_id(connection)
