"""Build a plain ONNX graph of a BERT encoder from its weights (no torch, no export).

Why written here: the ONNX file that ships for all-MiniLM-L6-v2 was exported with
SDPA-style attention and NaN guards and runs ~25% slower on onnxruntime than a plain graph;
exporting one needs torch. Writing the graph from the safetensors weights gives the plain
graph with numpy and ``onnx`` alone, and the same builder can insert SmoothQuant scaling
(see ``embedspace.encoders.quantize``). The output is ``last_hidden_state`` ``(B, L, H)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from embedspace.encoders.graph_parts import GraphParts
from embedspace.encoders.row_int8 import GELU_FLOOR, RowInt8

OPSET = 17
IR_VERSION = 8  # ONNX 1.13+ format, read by every onnxruntime since 1.14


@dataclass(frozen=True)
class BertShape:
    """The few numbers that shape a BERT encoder."""

    layers: int
    heads: int
    hidden: int
    eps: float = 1e-12

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertShape:
        """Read them from a Hugging Face ``config.json`` mapping."""
        return cls(
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            hidden=int(config["hidden_size"]),
            eps=float(config.get("layer_norm_eps", 1e-12)),
        )


def attention_input(layer: int) -> str:
    """Name of the tensor feeding Q/K/V of ``layer`` (a LayerNorm output)."""
    return f"layer{layer}.attention_input"


def ffn_input(layer: int) -> str:
    """Name of the tensor feeding the first feed-forward matmul of ``layer``."""
    return f"layer{layer}.ffn_input"


def build(
    weights: dict[str, np.ndarray],
    shape: BertShape,
    *,
    smooth: dict[str, np.ndarray] | None = None,
    expose: tuple[str, ...] = (),
    row_int8: bool = False,
    signed_weights: bool = True,
) -> Any:
    """Return an ``onnx.ModelProto`` computing BERT's ``last_hidden_state``.

    ``weights`` use the Hugging Face ``BertModel`` names (``embeddings.*``,
    ``encoder.layer.N.*``). ``smooth`` maps a matmul input (``attention_input(i)`` or
    ``ffn_input(i)``) to per-channel scales ``s``: the graph divides that activation by ``s``
    and multiplies the rows of the weights it feeds by ``s`` (same result, smaller
    activation outliers for int8). ``expose`` adds named intermediate tensors as outputs.
    ``row_int8`` writes every dense layer as a per-row int8 matmul (``row_int8`` module;
    ``signed_weights`` as there).
    """
    from onnx import TensorProto, helper

    parts = GraphParts()
    const, node = parts.const, parts.node
    smooth = smooth or {}

    def norm(x: str, prefix: str, out: str) -> str:
        gamma = const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        beta = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, gamma, beta], out, axis=-1, epsilon=shape.eps)

    rows = RowInt8(parts, signed_weights) if row_int8 else None

    def dense(
        x: str, prefix: str, out: str, scale: np.ndarray | None = None, floor: float | None = None
    ) -> str:
        matrix = weights[f"{prefix}.weight"].T.astype(np.float32)  # (in, out)
        if scale is not None:
            matrix = matrix * scale[:, None]
        if rows is not None:
            bias = weights[f"{prefix}.bias"].astype(np.float32)
            return rows.dense(x, matrix, bias, out, floor=floor)
        product = node("MatMul", [x, const(f"{prefix}.weight_t", matrix)], f"{out}.matmul")
        return node("Add", [product, const(f"{prefix}.bias", weights[f"{prefix}.bias"])], out)

    def smoothed(x: str) -> tuple[str, np.ndarray | None]:
        if x not in smooth:
            return x, None
        scale = smooth[x].astype(np.float32)
        inverse = const(f"{x}.smooth_inverse", (1.0 / scale).astype(np.float32))
        return node("Mul", [x, inverse], f"{x}.smoothed"), scale

    # Embeddings: words + positions + token types, then LayerNorm.
    words = node(
        "Gather",
        [const("word", weights["embeddings.word_embeddings.weight"]), "input_ids"],
        "words",
    )
    # Positions 0..L-1: slice the first L rows of the position table (L = input_ids' dim 1).
    length = node(
        "Slice",
        [
            node("Shape", ["input_ids"], "ids_shape"),
            const("one_1d", np.array([1], dtype=np.int64)),
            const("two_1d", np.array([2], dtype=np.int64)),
        ],
        "length",
    )
    position_vectors = node(
        "Slice",
        [
            const("position", weights["embeddings.position_embeddings.weight"]),
            const("zero_1d", np.array([0], dtype=np.int64)),
            length,
            const("axis_0", np.array([0], dtype=np.int64)),
        ],
        "position_vectors",
    )
    types = node(
        "Gather",
        [const("token_type", weights["embeddings.token_type_embeddings.weight"]), "token_type_ids"],
        "types",
    )
    split, merge = _head_shapes(parts, shape, row_int8)
    summed = node(
        "Add", [node("Add", [words, position_vectors], "words_positions"), types], "embeddings_sum"
    )
    if row_int8:
        summed = node("Reshape", [summed, merge], "embeddings_rows")
    hidden = norm(summed, "embeddings.LayerNorm", attention_input(0))

    # Additive mask: 0 for tokens, -10000 for padding, broadcast over heads and queries.
    mask_float = node("Cast", ["attention_mask"], "mask_float", to=TensorProto.FLOAT)
    inverted = node(
        "Sub", [const("one_float", np.array(1.0, dtype=np.float32)), mask_float], "mask_inverted"
    )
    additive = node(
        "Mul",
        [inverted, const("mask_value", np.array(-10000.0, dtype=np.float32))],
        "mask_additive",
    )
    mask = node(
        "Unsqueeze", [additive, const("mask_axes", np.array([1, 2], dtype=np.int64))], "mask"
    )
    head_dim = shape.hidden // shape.heads
    scale = const("attention_scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))

    for layer in range(shape.layers):
        prefix = f"encoder.layer.{layer}"
        x_in, s_attention = smoothed(hidden)
        heads = {}
        perms = {"query": [0, 2, 1, 3], "key": [0, 2, 3, 1], "value": [0, 2, 1, 3]}
        if rows is not None:
            projections = dict(
                zip(perms, _qkv(rows, weights, shape, x_in, layer, s_attention), strict=True)
            )
        else:
            projections = {
                part: dense(
                    x_in, f"{prefix}.attention.self.{part}", f"layer{layer}.{part}", s_attention
                )
                for part in perms
            }
        for part, perm in perms.items():
            projected = projections[part]
            reshaped = node("Reshape", [projected, split], f"layer{layer}.{part}.heads")
            heads[part] = node("Transpose", [reshaped], f"layer{layer}.{part}.t", perm=perm)
        scores = node("MatMul", [heads["query"], heads["key"]], f"layer{layer}.scores")
        scaled = node("Mul", [scores, scale], f"layer{layer}.scores_scaled")
        probabilities = node(
            "Softmax",
            [node("Add", [scaled, mask], f"layer{layer}.scores_masked")],
            f"layer{layer}.probabilities",
            axis=-1,
        )
        context = node("MatMul", [probabilities, heads["value"]], f"layer{layer}.context")
        context = node("Transpose", [context], f"layer{layer}.context.t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge], f"layer{layer}.context.merged")
        attended = dense(
            context, f"{prefix}.attention.output.dense", f"layer{layer}.attention_output"
        )
        residual = node("Add", [attended, hidden], f"layer{layer}.attention_residual")
        middle = norm(residual, f"{prefix}.attention.output.LayerNorm", ffn_input(layer))
        f_in, s_ffn = smoothed(middle)
        up = dense(f_in, f"{prefix}.intermediate.dense", f"layer{layer}.ffn_up", s_ffn)
        # GELU (erf form, as BERT): 0.5 * x * (1 + erf(x / sqrt(2)))
        erf = node(
            "Erf",
            [
                node(
                    "Div",
                    [up, const(f"sqrt2_{layer}", np.array(np.sqrt(2.0), dtype=np.float32))],
                    f"layer{layer}.gelu_div",
                )
            ],
            f"layer{layer}.gelu_erf",
        )
        gate = node("Add", [erf, "one_float"], f"layer{layer}.gelu_gate")
        product = node("Mul", [up, gate], f"layer{layer}.gelu_product")
        gelu = node(
            "Mul",
            [product, const(f"half_{layer}", np.array(0.5, dtype=np.float32))],
            f"layer{layer}.gelu",
        )
        down = dense(gelu, f"{prefix}.output.dense", f"layer{layer}.ffn_down", floor=GELU_FLOOR)
        residual = node("Add", [down, middle], f"layer{layer}.ffn_residual")
        last = "last_hidden_rows" if row_int8 else "last_hidden_state"
        out_name = attention_input(layer + 1) if layer + 1 < shape.layers else last
        hidden = norm(residual, f"{prefix}.output.LayerNorm", out_name)
    _batches_again(parts, hidden, shape, row_int8)

    ints = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    outputs = [
        helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", shape.hidden]
        )
    ]
    outputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in expose]
    graph = helper.make_graph(parts.nodes, "bert", ints, outputs, parts.inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if row_int8:
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="embedspace")
    model.ir_version = IR_VERSION  # what onnxruntime reads (newer onnx writes newer by default)
    return model


def _head_shapes(parts: GraphParts, shape: BertShape, row_int8: bool) -> tuple[str, str]:
    """The shapes that split hidden states into attention heads and merge them back. A
    row-int8 graph keeps hidden states as ``(batch x length, hidden)`` (``row_int8``), so
    its split shape is made from ``input_ids``' shape (``ids_shape``)."""
    head_dim = shape.hidden // shape.heads
    if not row_int8:
        split = parts.const("split_heads_shape", np.array([0, 0, shape.heads, head_dim], np.int64))
        return split, parts.const("merge_heads_shape", np.array([0, 0, shape.hidden], np.int64))
    heads = parts.const("heads_dims", np.array([shape.heads, head_dim], np.int64))
    split = parts.node("Concat", ["ids_shape", heads], "split_heads_shape", axis=0)
    return split, parts.const("merge_heads_shape", np.array([-1, shape.hidden], np.int64))


def _batches_again(parts: GraphParts, hidden: str, shape: BertShape, row_int8: bool) -> None:
    """A row-int8 graph's last hidden states ``(batch x length, hidden)`` back to ``(batch,
    length, hidden)`` as the output ``last_hidden_state``."""
    if row_int8:
        hidden_dim = parts.const("hidden_dim", np.array([shape.hidden], np.int64))
        output_shape = parts.node("Concat", ["ids_shape", hidden_dim], "output_shape", axis=0)
        parts.node("Reshape", [hidden, output_shape], "last_hidden_state")


def _qkv(
    rows: RowInt8,
    weights: dict[str, np.ndarray],
    shape: BertShape,
    x: str,
    layer: int,
    scale: np.ndarray | None,
) -> list[str]:
    """Query, key and value of a row-int8 layer: one matmul over the three weight matrices
    side by side (they share their input), then a split. The same numbers as three matmuls
    (bit for bit, tested), 3 graph nodes fewer per layer. With the 2-D hidden states and the
    shared zero points, a one-query embedding got ~10% faster (bench/RESULTS.md §25)."""
    names = [f"encoder.layer.{layer}.attention.self.{p}" for p in ("query", "key", "value")]
    matrix = np.concatenate([weights[f"{n}.weight"].T for n in names], axis=1).astype(np.float32)
    if scale is not None:
        matrix = matrix * scale[:, None]
    bias = np.concatenate([weights[f"{n}.bias"] for n in names]).astype(np.float32)
    joined = rows.dense(x, matrix, bias, f"layer{layer}.qkv")
    sizes = rows.parts.const(f"layer{layer}.qkv_sizes", np.full(3, shape.hidden, np.int64))
    outputs = [f"layer{layer}.{p}" for p in ("query", "key", "value")]
    return rows.parts.nodes_out("Split", [joined, sizes], outputs, axis=1)
