"""Reliability: SIGKILL a writer in the middle of large adds; readers while a writer writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import embedspace as es

BATCH = 4000

WRITER = textwrap.dedent(
    """
    import sys
    import embedspace as es
    space = es.Space.open(sys.argv[1], ann_threshold=1000)
    batch = 0
    while True:
        texts = [f"batch {batch} item {i} words {i % 97}" for i in range(__BATCH__)]
        ids = [f"b{batch}-{i}" for i in range(__BATCH__)]
        space.add(texts, ids=ids, metadata=[{"batch": batch}] * len(texts))
        print(batch, flush=True)
        if batch % 3 == 2:
            space.optimize()  # also die while the sidecar is being written
        batch += 1
    """
).replace("__BATCH__", str(BATCH))

READER = textwrap.dedent(
    """
    import json, sys, time
    import embedspace as es
    space = es.Space.open(sys.argv[1], ann_threshold=1000)
    deadline = time.time() + float(sys.argv[2])
    seen, problems, searches = 0, [], 0
    while time.time() < deadline:
        count = len(space)
        if count < seen or count % __BATCH__:
            problems.append(f"count {count} after {seen}")
        seen = count
        for match in space.search("batch 1 item 5 words 5", k=5):
            if space.get(match.id) is None and count == len(space):
                problems.append(f"dangling {match.id}")
        searches += 1
    print(json.dumps({"problems": problems, "searches": searches, "seen": seen}))
    """
).replace("__BATCH__", str(BATCH))


def _python_path() -> str:
    """The repository first, then what the environment had (``.ci/run --avx2`` puts its
    masked onnxruntime there)."""
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")]))


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": _python_path()},
    )


def _committed_batches(space: es.Space) -> dict[int, int]:
    counts: dict[int, int] = {}
    for item_id in space.ids():
        batch = int(item_id[1:].split("-")[0])
        counts[batch] = counts.get(batch, 0) + 1
    return counts


@pytest.mark.parametrize("delay", [0.05, 0.12, 0.2, 0.26])
def test_sigkill_mid_add_loses_nothing_committed(tmp_path: Path, delay: float) -> None:
    # One batch takes ~0.17 s to embed and ~0.1 s to write here: the delays land in both.
    path = tmp_path / "crash"
    es.Space.create(path, encoder="hashing").close()
    writer = _start(WRITER, str(path))
    reported = -1
    assert writer.stdout is not None
    while reported < 4:  # several batches committed (and one sidecar written) first
        line = writer.stdout.readline()
        assert line, writer.stderr.read() if writer.stderr else "writer died"
        reported = int(line)
    time.sleep(delay)  # now somewhere inside the next large add
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)

    space = es.Space.open(path, ann_threshold=1000)
    batches = _committed_batches(space)
    # Every batch reported committed is there, whole; the one being written is all or nothing.
    assert all(b in batches for b in range(reported + 1))
    assert set(batches.values()) == {BATCH}
    assert len(space) == BATCH * len(batches) == len(space.ids())
    last = max(batches)
    text = f"batch {last} item 17 words 17"
    assert space.search(text, k=1, exact=True)[0].id == f"b{last}-17"
    assert space.search(text, k=1)[0].id == f"b{last}-17"  # HNSW: loaded or rebuilt, caught up
    assert space.get(f"b{last + 1}-0") is None
    # And the space still takes writes.
    space.add(["after the crash"], ids=["after"])
    assert space.search("after the crash", k=1)[0].id == "after"


def test_readers_see_whole_batches_while_a_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    seed = es.Space.create(path, encoder="hashing")
    seed.add(
        [f"batch 0 item {i} words {i % 97}" for i in range(BATCH)],
        ids=[f"b0-{i}" for i in range(BATCH)],
    )
    seed.close()
    writer = _start(WRITER.replace("batch = 0", "batch = 1"), str(path))
    readers = [_start(READER, str(path), "4") for _ in range(2)]
    results = [json.loads(r.communicate(timeout=120)[0]) for r in readers]
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    for result in results:
        assert result["problems"] == []
        assert result["searches"] >= 2
    final = len(es.Space.open(path))
    assert final >= max(r["seen"] for r in results) > BATCH  # readers saw the writer's batches


def test_a_leftover_temp_file_from_a_killed_save_is_harmless(tmp_path: Path) -> None:
    space = es.Space.create(tmp_path / "t", encoder="fake", ann_threshold=10)
    vectors = np.random.default_rng(0).normal(size=(50, 64)).astype(np.float32)
    space.add([f"v{i}" for i in range(50)], ids=[str(i) for i in range(50)], vectors=vectors)
    (tmp_path / "t" / ".hnsw-abc.tmp").write_bytes(b"half a file")
    space.close()
    assert es.Space.open(tmp_path / "t", ann_threshold=10).search(vectors[3], k=1)[0].id == "3"


ANN_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import embedspace as es
    space = es.Space.open(sys.argv[1], ann_threshold=1000)
    rng = np.random.default_rng(0)
    batch = 0
    while True:  # each add is past the threshold and large enough to update the sidecar
        vectors = rng.normal(size=(1500, 64)).astype(np.float32)
        ids = [f"b{batch}-{i}" for i in range(1500)]
        space.add([f"v {i}" for i in ids], ids=ids, vectors=vectors)
        print(batch, flush=True)
        batch += 1
    """
)


@pytest.mark.parametrize("delay", [0.02, 0.1, 0.25])
def test_sigkill_while_the_sidecar_is_updated_leaves_a_sound_space(
    tmp_path: Path, delay: float, caplog: pytest.LogCaptureFixture
) -> None:
    from embedspace.store.hnsw import HnswIndex

    path = tmp_path / "ann-crash"
    es.Space.create(path, encoder="fake").close()
    writer = _start(ANN_WRITER, str(path))
    assert writer.stdout is not None
    reported = -1
    while reported < 2:  # the sidecar was built, then updated at least once
        line = writer.stdout.readline()
        assert line, writer.stderr.read() if writer.stderr else "writer died"
        reported = int(line)
    time.sleep(delay)  # inside the next add: its transaction, or the sidecar update after it
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)

    saved = HnswIndex.load(path, 64, "cosine")  # the old or the new sidecar, never half of one
    space = es.Space.open(path, ann_threshold=1000)
    assert saved is not None and saved.max_rowid <= len(space)
    probe = space.vectors([f"b{reported}-7"])
    with caplog.at_level("WARNING", logger="embedspace"):
        assert space.search(probe[0], k=1)[0].id == f"b{reported}-7"
    assert "damaged" not in caplog.text and "no HNSW index" not in caplog.text
    space.add(["after"], ids=["after"], vectors=np.ones((1, 64), dtype=np.float32))
    space.optimize()  # the next update clears what the killed one left behind
    assert list(path.glob(".hnsw-*.tmp")) == []
    assert len(list(path.glob("hnsw-*.faiss"))) == 1
