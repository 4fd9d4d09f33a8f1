"""Faults fail cleanly (issue 12, point 3): a full disk, a read-only space, killed and
concurrent creations. Each says what happened and what to do, and loses nothing."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import fail, mounted, run

import embedspace as es
from embedspace.store import database as db
from embedspace.store.creation import remove_abandoned


def _space(path: Path, count: int = 3, encoder: str = "fake") -> None:
    with es.Space.create(path, encoder=encoder) as space:
        space.add([f"item number {i}" for i in range(count)], ids=[str(i) for i in range(count)])


def test_a_read_only_space_is_searched_and_refuses_writes_clearly(tmp_path: Path) -> None:
    _space(tmp_path / "source" / "news")
    with mounted("ro", tmp_path / "view", source=tmp_path / "source") as view:
        space = es.Space.open(view / "news")
        assert [m.id for m in space.search("item number 1", k=1)] == ["1"]
        assert len(space) == 3 and space.get("2") is not None
        space.optimize()  # nothing to save: fine
        for write in (
            lambda: space.add(["new"], ids=["9"]),
            lambda: space.delete(["1"]),
            lambda: space.update_metadata({"1": {"tag": "x"}}),
        ):
            with pytest.raises(es.ReadOnlySpace, match="can be searched but not changed"):
                write()
        space.close()
        assert "item number 1" in run("search", str(view / "news"), "item number 1").output
        (tmp_path / "more.txt").write_text("one more line\n")
        line = fail("index", str(view / "news"), str(tmp_path / "more.txt"))
        assert "cannot be written here" in line


_LEAVE_LOG = """
import os, sqlite3, sys
import embedspace as es
path = sys.argv[1]
keep = sqlite3.connect(os.path.join(path, "space.db"))  # holds the log: no checkpoint
keep.execute("PRAGMA journal_mode=WAL")
with es.Space.open(path) as space:
    space.add(["late item"], ids=["late"])
os.unlink(os.path.join(path, "space.db-shm"))  # as a copy made without it would be
os._exit(0)  # killed: the log is never folded in
"""


def test_a_read_only_space_with_unread_log_says_so(tmp_path: Path) -> None:
    """Writes still in the -wal file of a read-only space cannot be read without writing
    (no -shm file can be made): a clear error, not answers without the latest writes."""
    source = tmp_path / "source" / "news"
    _space(source, encoder="hashing")  # the child process knows no test encoders
    subprocess.run([sys.executable, "-c", _LEAVE_LOG, str(source)], check=True)
    assert (source / "space.db-wal").stat().st_size > 0
    view = tmp_path / "view"
    with (
        mounted("ro", view, source=tmp_path / "source"),
        pytest.raises(es.ReadOnlySpace, match="write-ahead log"),
    ):
        es.Space.open(view / "news")
    with es.Space.open(source) as space:  # where it can be written, nothing was lost
        assert space.get("late") is not None


def test_a_full_disk_fails_cleanly_and_loses_nothing(tmp_path: Path) -> None:
    with mounted("tmpfs", tmp_path / "small", size="3m") as small:
        space = es.Space.create(small / "news", encoder="fake")
        space.add(["kept item"], ids=["kept"])
        big = np.random.default_rng(0).normal(size=(1000, space.stamp.dim)).astype(np.float32)
        with pytest.raises(es.StorageError, match="disk .* is full") as raised:
            for batch in range(100):
                space.add(
                    [f"text {batch}-{i} " + "x" * 2000 for i in range(1000)],
                    ids=[f"{batch}-{i}" for i in range(1000)],
                    vectors=big,
                )
        assert not isinstance(raised.value, es.CorruptSpace)
        count = len(space)
        assert count % 1000 == 1  # whole batches only
        space.close()
        reopened = es.Space.open(small / "news")
        assert len(reopened) == count and reopened.get("kept") is not None
        reopened.close()
        _fill(small / "filler")
        with pytest.raises(es.StorageError, match="full"):
            es.Space.create(small / "another", encoder="fake")
        assert not [p for p in small.iterdir() if p.name.startswith(".another")]


def _fill(file: Path) -> None:
    """Write ``file`` until the disk is full."""
    with file.open("wb", buffering=0) as out:
        try:
            while out.write(b"x" * 4096):
                pass
        except OSError:
            pass


def test_a_failed_commit_is_reported_not_hidden_by_its_rollback(tmp_path: Path) -> None:
    """When SQLite has already ended the transaction (as on a full disk), the ROLLBACK in
    the cleanup must not replace the real error."""
    _space(tmp_path / "news")
    connection = db.connect(tmp_path / "news")
    with pytest.raises(ValueError, match="the real error"), db.transaction(connection):
        connection.execute("ROLLBACK")  # the transaction ends under our feet
        raise ValueError("the real error")
    connection.close()


def _create(
    path: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:  # type: ignore[name-defined]
    os.environ["EMBEDSPACE_HOME"] = str(Path(path).parent)
    barrier.wait()
    result = run("index", path, str(Path(path).parent / "items.csv"), "--encoder", "fake")
    out.put((result.exit_code, result.output + result.stderr))


def test_two_processes_creating_one_space_both_succeed(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("id,text\na,a cat\nb,a dog\n")
    target = str(tmp_path / "shared")
    for _ in range(3):
        context = multiprocessing.get_context("fork")
        barrier, out = context.Barrier(2), context.Queue()
        workers = [context.Process(target=_create, args=(target, barrier, out)) for _ in range(2)]
        for worker in workers:
            worker.start()
        results = [out.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        assert all(code == 0 for code, _ in results), results
        with es.Space.open(target) as space:
            assert sorted(space.ids()) == ["a", "b"]
        es.delete_space(target)
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".shared")]


def test_folders_of_killed_creations_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / ".news.creating-999999999-abcd"  # no such process
    dead.mkdir()
    (dead / "space.db").write_bytes(b"half")
    alive = tmp_path / f".news.creating-{os.getpid()}-efgh"
    alive.mkdir()
    assert remove_abandoned(tmp_path / "news") == [dead]
    assert alive.exists() and not dead.exists()
    alive.rmdir()
    (tmp_path / ".news.creating-999999998-x").mkdir()
    (tmp_path / ".other.creating-999999997-y").mkdir()  # another space's killed creation
    es.Space.create(tmp_path / "news", encoder="fake").close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["news"]


def test_a_damaged_database_raises_corrupt_space_not_sqlite3_errors(tmp_path: Path) -> None:
    _space(tmp_path / "news", count=400)
    file = tmp_path / "news" / "space.db"
    data = bytearray(file.read_bytes())
    pages = len(data) // 4096
    for page in range(20, pages - 5):  # the items' leaf pages; the meta table stays whole
        data[page * 4096 : (page + 1) * 4096] = bytes(4096)
    file.write_bytes(bytes(data))
    space = es.Space.open(tmp_path / "news")  # opens: its stamp is intact
    reads = (
        space.snapshot,
        lambda: space.search("item number 3"),
        space.ids,
        lambda: es.search_many(space, ["item number 3", "item 4"]),  # a mixin's method too
    )
    for read in reads:
        with pytest.raises(es.CorruptSpace, match="damaged"):
            read()
    space.close()
