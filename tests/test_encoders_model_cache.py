"""Prepared files (``encoders.model_cache``, ``onnx_text._optimized_copy``): a new version
of a shipped model's file deletes the versions of the same name unused for a day, a new
optimised copy the copies of files that are gone, and nothing else."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from embedspace.encoders import model_cache, onnx_text
from embedspace.encoders.model_cache import STALE_AFTER, cached_path, prepared_file


def _write(text: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return build


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def _prepare(name: str, key: str, text: str, *, prune: bool = True) -> Path:
    return prepared_file(name, key, _write(text), what="a thing", suffix=".txt", prune=prune)


def test_a_new_version_deletes_old_versions_unused_for_a_day() -> None:
    old = _prepare("thing", "key-1", "one")
    recent = _prepare("thing", "key-2", "two")
    other = _prepare("thing-other", "key-1", "x")
    _age(old, STALE_AFTER + 60)
    _age(other, STALE_AFTER + 60)
    _age(recent, STALE_AFTER / 2)
    new = _prepare("thing", "key-3", "three")
    assert new.read_text(encoding="utf-8") == "three"
    assert not old.exists()  # unused for more than a day: gone
    assert recent.exists()  # used within the day (another installation, say): kept
    assert other.exists()  # another name, though it starts the same: kept
    # asking for a deleted version prepares it again
    again = _prepare("thing", "key-1", "one again")
    assert again == cached_path("thing", "key-1", ".txt") and again.exists()


def test_files_whose_names_are_shared_are_never_pruned() -> None:
    # a trained folder's graphs, recipe choices: versions of one name that are alternatives
    first = _prepare("shared", "folder-a", "a", prune=False)
    _age(first, STALE_AFTER + 60)
    _prepare("shared", "folder-b", "b", prune=False)
    assert first.exists()


def test_using_a_file_marks_its_access_time_and_keeps_its_modification_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _prepare("used", "key", "a")
    _age(path, STALE_AFTER + 60)
    written = path.stat().st_mtime_ns
    monkeypatch.setattr(model_cache, "_TOUCHED", {})  # a new process
    assert _prepare("used", "key", "b") == path
    assert path.read_text(encoding="utf-8") == "a"  # used, not rebuilt
    assert time.time() - model_cache.last_used(path) < 60
    assert path.stat().st_mtime_ns == written  # other keys hold it (the optimised copy's)


def test_a_new_process_finds_the_optimised_copy_of_a_prepared_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")

    def graph() -> Path:
        return prepared_file("tiny-graph", "key", _tiny_model, what="a graph", prune=True)

    copy = onnx_text._optimized_copy(graph())
    time.sleep(0.01)
    monkeypatch.setattr(model_cache, "_TOUCHED", {})  # a new process marks the graph used
    assert onnx_text._optimized_copy(graph()) == copy  # the same copy, not a new one


def _tiny_model(path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def test_optimised_copies_of_graphs_that_are_gone_are_deleted(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    first = tmp_path / "a" / "model.onnx"
    second = tmp_path / "b" / "model.onnx"
    kept = tmp_path / "c" / "model.onnx"  # a model of the same file name, still there
    for path in (first, second, kept):
        path.parent.mkdir()
        _tiny_model(path)
    gone_copy = onnx_text._optimized_copy(first)
    kept_copy = onnx_text._optimized_copy(kept)
    assert gone_copy is not None and kept_copy is not None
    first.unlink()  # e.g. an older graph, pruned
    _age(gone_copy.parent, STALE_AFTER + 60)
    _age(kept_copy.parent, STALE_AFTER + 60)
    new_copy = onnx_text._optimized_copy(second)
    assert new_copy is not None and new_copy.exists()
    assert not gone_copy.parent.exists()
    assert kept_copy.exists()  # its source is there: whatever its age, not ours to judge


def test_an_older_copy_of_the_same_model_goes_when_a_new_onnxruntime_makes_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = tmp_path / "model.onnx"
    _tiny_model(model)
    old_copy = onnx_text._optimized_copy(model)
    assert old_copy is not None
    _age(old_copy.parent, STALE_AFTER + 60)
    monkeypatch.setattr(ort, "__version__", f"{ort.__version__}.next")
    new_copy = onnx_text._optimized_copy(model)
    assert new_copy is not None and new_copy != old_copy
    assert not old_copy.parent.exists()
