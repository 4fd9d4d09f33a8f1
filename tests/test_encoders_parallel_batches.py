"""Many texts run as single-threaded onnxruntime calls side by side (encoders/onnx_text.py),
checked on a tiny hand-made ONNX model whose vector is computable by hand: every text gets
its own vector, in its own row, across tokenization chunks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from embedspace.encoders import onnx_text
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
    assert encoder._side_by_side(len(texts)) == (3, 1)
    side_by_side = encoder.encode(texts, batch_size=4)
    np.testing.assert_allclose(side_by_side, by_hand(texts), rtol=1e-6)
    assert set(encoder._sessions) == {1}  # one single-threaded session shared by the calls
    with encoder_threads(1):  # the caller's budget: one call at a time
        assert encoder._side_by_side(len(texts)) is None
        np.testing.assert_array_equal(encoder.encode(texts, batch_size=4), side_by_side)
    with encoder_threads(2):
        assert encoder._side_by_side(len(texts)) == (2, 1)
    assert encoder._side_by_side(onnx_text.SINGLE_QUERY) is None  # a query's few texts
    assert encoder._session_for(1) is encoder._sessions[1]  # queries share that session
    for cores, plan in {9: (8, 1), 12: (6, 2), 15: (7, 2), 16: (8, 2), 20: (5, 4)}.items():
        monkeypatch.setattr(onnx_text, "cpu_count", lambda cores=cores: cores)
        assert encoder._side_by_side(len(texts)) == plan  # <= 8 calls, <= 1 core left over


def pool_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")}


def test_an_early_stop_cancels_the_calls_not_started_and_ends_the_threads(
    encoder: OnnxTextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_text, "cpu_count", lambda: 2)
    before = pool_threads()
    ran: list[int] = []
    gate = threading.Event()
    real = encoder._run

    def gated(session: object, encodings: list[object]) -> np.ndarray:
        ran.append(len(encodings))
        if len(ran) > 2:  # the first two calls run; the next ones wait for the gate
            assert gate.wait(10)
        return real(session, encodings)

    class Pool(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            assert cancel_futures  # what is not started is cancelled ...
            gate.set()  # ... before the calls waiting at the gate may finish
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(encoder, "_run", gated)
    monkeypatch.setattr(onnx_text, "ThreadPoolExecutor", Pool)
    texts = [" ".join(WORDS[: 1 + i % 9]) for i in range(400)]
    batches = encoder._batches(texts, 2)
    next(batches)
    batches.close()  # the caller stopped (an error, Ctrl-C): the rest is cancelled
    assert gate.is_set()
    assert 2 <= len(ran) <= 4  # of ~200: the first two, and any already at the gate
    assert not pool_threads() - before  # the pool's threads have ended


def test_an_error_in_one_call_reaches_the_caller(
    encoder: OnnxTextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_text, "cpu_count", lambda: 2)
    before = pool_threads()
    calls: list[int] = []
    real = encoder._run

    def failing(session: object, encodings: list[object]) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the third call failed")
        return real(session, encodings)

    monkeypatch.setattr(encoder, "_run", failing)
    with pytest.raises(RuntimeError, match="third call"):
        encoder.encode([" ".join(WORDS[: 1 + i % 9]) for i in range(100)], batch_size=2)
    assert not pool_threads() - before
