"""Prepared files (``encoders.model_cache``, ``onnx_text._optimized_copy``): a new version
of a file deletes the versions of the same name unused for a day, and nothing else."""

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


def test_a_new_version_deletes_old_versions_unused_for_a_day() -> None:
    old = prepared_file("thing", "key-1", _write("one"), what="a thing", suffix=".txt")
    recent = prepared_file("thing", "key-2", _write("two"), what="a thing", suffix=".txt")
    other = prepared_file("thing-other", "key-1", _write("x"), what="x", suffix=".txt")
    _age(old, STALE_AFTER + 60)
    _age(other, STALE_AFTER + 60)
    _age(recent, STALE_AFTER / 2)
    new = prepared_file("thing", "key-3", _write("three"), what="a thing", suffix=".txt")
    assert new.read_text(encoding="utf-8") == "three"
    assert not old.exists()  # unused for more than a day: gone
    assert recent.exists()  # used within the day (another installation, say): kept
    assert other.exists()  # another name, though it starts the same: kept
    # asking for a deleted version prepares it again
    again = prepared_file("thing", "key-1", _write("one again"), what="a thing", suffix=".txt")
    assert again == cached_path("thing", "key-1", ".txt") and again.exists()


def test_using_a_file_marks_it_used(monkeypatch: pytest.MonkeyPatch) -> None:
    path = prepared_file("used", "key", _write("a"), what="a file", suffix=".txt")
    _age(path, STALE_AFTER + 60)
    monkeypatch.setattr(model_cache, "_TOUCHED", set())  # a new process
    assert prepared_file("used", "key", _write("b"), what="a file", suffix=".txt") == path
    assert time.time() - path.stat().st_mtime < 60
    assert path.read_text(encoding="utf-8") == "a"  # used, not rebuilt


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


def test_optimised_copies_of_earlier_versions_of_a_model_are_deleted_too(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    first = tmp_path / "tiny-0123456789abcdef.onnx"
    second = tmp_path / "tiny-fedcba9876543210.onnx"
    elsewhere = tmp_path / "tiny.onnx"  # a model of another name keeps its copy
    for path in (first, second, elsewhere):
        _tiny_model(path)
    old_copy = onnx_text._optimized_copy(first)
    other_copy = onnx_text._optimized_copy(elsewhere)
    assert old_copy is not None and other_copy is not None
    _age(old_copy.parent, STALE_AFTER + 60)
    _age(other_copy.parent, STALE_AFTER + 60)
    new_copy = onnx_text._optimized_copy(second)
    assert new_copy is not None and new_copy.exists()
    assert not old_copy.parent.exists()
    assert other_copy.exists()
