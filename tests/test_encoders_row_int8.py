"""Per-row int8 matmuls (``encoders.row_int8``): what the graph computes, checked against a
numpy emulation of the same arithmetic, and a tiny random BERT written with them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embedspace.encoders.bert_graph import BertShape, build
from embedspace.encoders.cpu import ARM64, VNNI, cpu_class
from embedspace.encoders.graph_parts import GraphParts
from embedspace.encoders.row_int8 import GELU_FLOOR, RowInt8

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# uint8 x int8 weights are exact only where the kernels add into 32 bits (VNNI, ARM64);
# elsewhere they saturate 16-bit sums, which is why those CPUs never run int8-rows.
WEIGHTS = [
    pytest.param(
        True,
        id="int8-weights",
        marks=pytest.mark.skipif(
            cpu_class() not in (VNNI, ARM64), reason="u8 x s8 saturates without VNNI"
        ),
    ),
    pytest.param(False, id="uint8-weights"),
]


def _dense_graph(matrix: np.ndarray, bias: np.ndarray, signed: bool, floor: float | None) -> Any:
    from onnx import TensorProto, helper

    parts = GraphParts()
    rows = RowInt8(parts, signed_weights=signed)
    rows.dense("x", matrix, bias, "y", floor=floor)
    graph = helper.make_graph(
        parts.nodes,
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", matrix.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        parts.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _emulated(x: np.ndarray, matrix: np.ndarray, bias: np.ndarray, floor: float | None) -> Any:
    """The same arithmetic in numpy: per-row scales, per-column weight scales."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    if floor is None:
        scale = np.maximum(np.abs(rows).max(axis=1, keepdims=True) / 127, 1e-12)
        levels = np.clip(np.round(rows / scale), -128, 127)
    else:
        rows = rows - floor
        scale = np.maximum(rows.max(axis=1, keepdims=True) / 255, 1e-12)
        levels = np.clip(np.round(rows / scale), 0, 255)
    column = np.abs(matrix).max(axis=0) / 127
    weights = np.clip(np.round(matrix / column), -127, 127)
    out = (levels @ weights) * scale * column + bias
    if floor is not None:
        out += floor * matrix.sum(axis=0)
    return out.reshape(*x.shape[:-1], -1)


@pytest.mark.parametrize("signed", WEIGHTS)
@pytest.mark.parametrize("floor", [None, GELU_FLOOR])
def test_a_dense_layer_is_the_per_row_int8_arithmetic(signed: bool, floor: float | None) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(0, 0.1, (48, 20)).astype(np.float32)
    bias = rng.normal(0, 0.1, 20).astype(np.float32)
    x = rng.normal(0, 1, (15, 48)).astype(np.float32)
    x[1] *= 40  # one loud token: with per-row scales it coarsens nobody else
    x[14] = 0.0  # an all-zero row: a tiny scale, no division by zero
    if floor is not None:
        x = np.maximum(x, floor)
    session = _dense_graph(matrix, bias, signed, floor)
    got = session.run(None, {"x": x})[0]
    assert got.shape == (15, 20)
    np.testing.assert_allclose(got, _emulated(x, matrix, bias, floor), rtol=1e-4, atol=1e-4)
    exact = x @ matrix + bias
    assert np.abs(got - exact).max() < 0.05 * np.abs(exact).max()
    # Each row is quantized on its own: a row's output does not depend on its batch.
    alone = session.run(None, {"x": x[5:8]})[0]
    np.testing.assert_array_equal(alone, got[5:8])


def _tiny_bert(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], BertShape]:
    hidden, ffn, layers = 32, 64, 2
    shape = BertShape(layers=layers, heads=4, hidden=hidden)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return rng.normal(0, 0.15, (rows, cols)).astype(np.float32)

    def vector(size: int, mean: float = 0.0) -> np.ndarray:
        return (mean + rng.normal(0, 0.05, size)).astype(np.float32)

    weights = {
        "embeddings.word_embeddings.weight": matrix(50, hidden),
        "embeddings.position_embeddings.weight": matrix(16, hidden),
        "embeddings.token_type_embeddings.weight": matrix(2, hidden),
        "embeddings.LayerNorm.weight": vector(hidden, 1.0),
        "embeddings.LayerNorm.bias": vector(hidden),
    }
    for layer in range(layers):
        p = f"encoder.layer.{layer}"
        for part in ("query", "key", "value"):
            weights[f"{p}.attention.self.{part}.weight"] = matrix(hidden, hidden)
            weights[f"{p}.attention.self.{part}.bias"] = vector(hidden)
        weights[f"{p}.attention.output.dense.weight"] = matrix(hidden, hidden)
        weights[f"{p}.attention.output.dense.bias"] = vector(hidden)
        weights[f"{p}.intermediate.dense.weight"] = matrix(ffn, hidden)
        weights[f"{p}.intermediate.dense.bias"] = vector(ffn)
        weights[f"{p}.output.dense.weight"] = matrix(hidden, ffn)
        weights[f"{p}.output.dense.bias"] = vector(hidden)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[f"{p}.{norm}.weight"] = vector(hidden, 1.0)
            weights[f"{p}.{norm}.bias"] = vector(hidden)
    return weights, shape


@pytest.mark.parametrize("signed", WEIGHTS)
def test_a_bert_with_every_matmul_in_per_row_int8_stays_close_to_fp32(signed: bool) -> None:
    rng = np.random.default_rng(0)
    weights, shape = _tiny_bert(rng)
    ids = rng.integers(1, 50, (4, 9))
    mask = np.ones_like(ids)
    mask[1, 6:] = 0  # a padded row
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    def run(model: Any) -> np.ndarray:
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        out: np.ndarray = session.run(None, feeds)[0]
        return out

    fp32 = run(build(weights, shape))
    int8_model = build(weights, shape, row_int8=True, signed_weights=signed)
    kinds = {n.op_type for n in int8_model.graph.node}
    assert "MatMulIntegerToFloat" in kinds
    matmuls = [n for n in int8_model.graph.node if n.op_type == "MatMul"]
    assert len(matmuls) == 2 * shape.layers  # only attention's scores and context stay fp32
    int8 = run(int8_model)
    real = mask.astype(bool)
    a, b = fp32[real], int8[real]
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.999


@pytest.mark.parametrize("signed", WEIGHTS)
def test_one_matmul_over_weights_side_by_side_is_three_matmuls_bit_for_bit(signed: bool) -> None:
    # what bert_graph's fused query/key/value relies on
    from onnx import TensorProto, helper

    rng = np.random.default_rng(7)
    matrices = [rng.normal(0, 0.1, (48, 16)).astype(np.float32) for _ in range(3)]
    biases = [rng.normal(0, 0.1, 16).astype(np.float32) for _ in range(3)]
    parts = GraphParts()
    rows = RowInt8(parts, signed_weights=signed)
    joined = rows.dense("x", np.concatenate(matrices, axis=1), np.concatenate(biases), "joined")
    apart = [
        rows.dense("x", m, b, f"apart{i}")
        for i, (m, b) in enumerate(zip(matrices, biases, strict=True))
    ]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in [joined, *apart]]
    graph = helper.make_graph(
        parts.nodes,
        "qkv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 48])],
        outputs,
        parts.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.normal(0, 1, (37, 48)).astype(np.float32)
    together, *separately = session.run(None, {"x": x})
    np.testing.assert_array_equal(together, np.concatenate(separately, axis=1))
