"""Many texts run as single-threaded onnxruntime calls side by side (encoders/onnx_text.py),
checked on a tiny hand-made ONNX model whose vector is computable by hand: every text gets
its own vector, in its own row, across tokenization chunks."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedspace.encoders import onnx_text
from embedspace.encoders.bucketing import spread
from embedspace.encoders.onnx_text import OnnxTextEncoder
from embedspace.encoders.threads import encoder_threads

WORDS = [f"w{i}" for i in range(1, 40)]


def tiny_model(path: Path) -> Path:
    """``(ids, ids**2)`` per token as float: mean pooling gives the mean id and square."""
    from onnx import TensorProto, helper, save

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "l"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["n", "l"])
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["n", "l", 2])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["f", "f"], ["f2"]),
        helper.make_node("Unsqueeze", ["f", "axes"], ["a"]),
        helper.make_node("Unsqueeze", ["f2", "axes"], ["b"]),
        helper.make_node("Concat", ["a", "b"], ["last_hidden_state"], axis=2),
        helper.make_node("Identity", ["attention_mask"], ["unused"]),
    ]
    graph = helper.make_graph(nodes, "tiny", [ids, mask], [out], initializer=[axes])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def tokenizer() -> object:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    made = Tokenizer(WordLevel({w: i for i, w in enumerate(["[UNK]", *WORDS])}, "[UNK]"))
    made.pre_tokenizer = Whitespace()
    return made


@pytest.fixture
def encoder(tmp_path: Path) -> OnnxTextEncoder:
    model = tiny_model(tmp_path / "tiny.onnx")
    return OnnxTextEncoder(
        name="tiny",
        dim=2,
        model_path=lambda: model,
        tokenizer_factory=tokenizer,
        normalize=False,
        cache_optimized=False,
    )


def by_hand(texts: list[str]) -> np.ndarray:
    rows = []
    for text in texts:
        ids = np.array([WORDS.index(w) + 1 for w in text.split()], dtype=np.float64)
        rows.append([ids.mean(), (ids**2).mean()])
    return np.array(rows, dtype=np.float32)


def test_every_text_gets_its_own_vector_when_calls_run_side_by_side(
    encoder: OnnxTextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_text, "cpu_count", lambda: 3)  # three calls side by side
    monkeypatch.setattr(onnx_text, "_TOKENIZE_CHUNK", 7)  # several chunks
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(50)]
    assert encoder._batch_workers(len(texts)) == 3
    side_by_side = encoder.encode(texts, batch_size=4)
    np.testing.assert_allclose(side_by_side, by_hand(texts), rtol=1e-6)
    assert set(encoder._sessions) == {1}  # one single-threaded session shared by the calls
    with encoder_threads(2):  # a caller's thread count: one call at a time, as asked
        assert encoder._batch_workers(len(texts)) == 1
        np.testing.assert_array_equal(encoder.encode(texts, batch_size=4), side_by_side)
    assert encoder._batch_workers(onnx_text.SINGLE_QUERY) == 1  # a query's few texts


def test_an_early_stop_cancels_the_calls_not_yet_started(
    encoder: OnnxTextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_text, "cpu_count", lambda: 2)
    ran: list[int] = []
    real = encoder._run

    def counted(session: object, encodings: list[object]) -> np.ndarray:
        ran.append(len(encodings))
        time.sleep(0.01)  # a call long enough that the caller stops while others wait
        return real(session, encodings)

    monkeypatch.setattr(encoder, "_run", counted)
    texts = [" ".join(WORDS[: 1 + i % 9]) for i in range(400)]
    batches = encoder._batches(texts, 2)
    next(batches)
    batches.close()  # the caller stopped (an error, Ctrl-C): the rest is cancelled
    assert len(ran) < 20  # of ~200 calls, only those already running or queued ran


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.integers(1, 9), min_size=0, max_size=6), parts=st.integers(1, 8))
def test_spread_splits_the_widest_calls_until_each_core_has_one(
    rows: list[int], parts: int
) -> None:
    bounds = [0, *itertools.accumulate(rows)]
    cuts = list(itertools.pairwise(bounds))
    spread_out = spread(cuts, parts)
    if not cuts:
        assert spread_out == []
        return
    assert spread_out[0][0] == 0 and spread_out[-1][1] == bounds[-1]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spread_out))  # in order, no gap
    assert all(stop > start for start, stop in spread_out)
    assert len(spread_out) == max(len(cuts), min(parts, bounds[-1]))
    assert set(cuts) <= set(spread_out) or len(cuts) < parts  # enough calls: left alone
