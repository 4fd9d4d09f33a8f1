"""Every dense layer of a BERT encoder in int8, each activation row with its own scale.

The ``int8-s8``/``int8-u8`` recipes (``quantize``) quantize activations with one scale per
*tensor* (onnxruntime's ``DynamicQuantizeLinear``): one outlier token anywhere in a batch
coarsens every other token, so only the query, key and feed-forward-in matmuls could be int8
within the fidelity floor (the feed-forward-out matmul alone moved vectors to cosine 0.9966).
Here every token row gets its own scale (``amax / 127``, symmetric around zero point 128),
and the GELU output, which never goes below -0.17, is shifted by +0.17 and quantized onto
the whole unsigned range (the shift folds into the bias: ``(g + c) W - c colsum(W)``). All
six matmuls of a layer then run in int8 at mean cosine ~0.9992 to fp32 (min ~0.998, 2,000
real sentences), ~1.5x faster than ``int8-s8`` on 2 cores. Per-row scales also make a
text's vector independent of the batch it is embedded with.

Written here because no onnxruntime op quantizes per row: the graph computes the row scales
with ``ReduceMax`` and quantizes with a per-axis ``QuantizeLinear`` over the rows of a 2-D
activation, then
``com.microsoft.MatMulIntegerToFloat`` multiplies and applies the row and column scales.
A per-row ``a_scale`` of shape ``(rows, 1)`` works through that op's broadcasting (a 1-D one
would not), and its ``bias`` input is not used: with a non-scalar ``a_scale`` onnxruntime
1.32 adds the bias first and then scales the whole output (checked against numpy), so the
bias is a separate ``Add``. ``tests/test_encoders_row_int8.py`` checks the arithmetic, and
every recipe is measured against fp32 on the machine before it is used (``recipe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from embedspace.encoders.graph_parts import GraphParts

GELU_FLOOR = -0.17  # erf-GELU's minimum is -0.16997 (at x = -0.75)
MICROSOFT = "com.microsoft"


@dataclass
class RowInt8:
    """Emits per-row int8 matmuls into the graph ``parts`` being written; activations are
    2-D ``(rows, width)`` (``bert_graph`` keeps a row-int8 graph's hidden states so: no
    reshape around each matmul, and a row scale of shape ``(rows, 1)`` as it comes).
    ``signed_weights``: int8 weights (u8 x s8 kernels, exact with VNNI) or uint8 weights
    with zero point 128 (u8 x u8, exact on every x86-64 CPU)."""

    parts: GraphParts
    signed_weights: bool = True
    _rows: dict[tuple[str, float | None], tuple[str, str, str]] = field(
        default_factory=dict, init=False, repr=False
    )
    _shared: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def dense(
        self,
        x: str,
        matrix: np.ndarray,
        bias: np.ndarray,
        out: str,
        *,
        floor: float | None = None,
    ) -> str:
        """``x @ matrix + bias`` in int8, ``x`` of shape ``(rows, in)``. ``floor``: a known
        lower bound of ``x`` (quantized unsigned from it)."""
        outputs = matrix.shape[1]
        rows, row_scale, zero = self._quantized(x, floor)
        scale = np.abs(matrix).max(axis=0) / 127.0
        scale[scale == 0] = 1.0
        levels = np.clip(np.round(matrix / scale), -127, 127)
        if self.signed_weights:
            weight = self.parts.const(f"{out}.int8", levels.astype(np.int8))
            weight_zero = self.parts.const(f"{out}.int8_zero", np.zeros(outputs, np.int8))
        else:
            weight = self.parts.const(f"{out}.uint8", (levels + 128).astype(np.uint8))
            weight_zero = self.parts.const(f"{out}.uint8_zero", np.full(outputs, 128, np.uint8))
        if floor is not None:  # (x - floor) was quantized: add back floor x colsum
            bias = bias + floor * matrix.sum(axis=0)
        product = self.parts.node(
            "MatMulIntegerToFloat",
            [rows, weight, row_scale, self.parts.const(f"{out}.scale", scale.astype(np.float32))]
            + [zero, weight_zero],
            f"{out}.int8_matmul",
            domain=MICROSOFT,
        )
        bias_name = self.parts.const(f"{out}.bias", bias.astype(np.float32))
        return self.parts.node("Add", [product, bias_name], out)

    def _quantized(self, x: str, floor: float | None) -> tuple[str, str, str]:
        """``x`` as uint8 rows, their scales ``(rows, 1)`` and zero point; made once per
        tensor and floor."""
        if (x, floor) in self._rows:
            return self._rows[(x, floor)]
        node = self.parts.node
        if floor is None:  # symmetric: |x| <= 127 steps either side of 128
            peak = node("ReduceMax", [node("Abs", [x], f"{x}.abs")], f"{x}.peak", axes=[-1])
            steps, zero_value = 127, 128
            source = x
        else:  # x >= floor: x - floor spans 0..255 steps
            floor_name = self._constant(f"floor_{floor!r}", floor, np.float32)
            source = node("Sub", [x, floor_name], f"{x}.up")
            peak = node("ReduceMax", [source], f"{x}.peak", axes=[-1])
            steps, zero_value = 255, 0
        per_step = self._constant(f"per_step_{steps}", 1 / steps, np.float32)
        scale = node(
            "Max",
            [node("Mul", [peak, per_step], f"{x}.s"), self._constant("tiny", 1e-12, np.float32)],
            f"{x}.row_scale",
        )  # (rows, 1): an all-zero row gets a tiny scale, not a division by zero
        flat_scale = node("Reshape", [scale, self._constant("flat", [-1], np.int64)], f"{x}.scales")
        rows = node(
            "QuantizeLinear",
            [source, flat_scale, self._zeros(zero_value, flat_scale)],
            f"{x}.uint8",
            axis=0,
        )
        found = (rows, scale, self._constant(f"zero_{zero_value}", zero_value, np.uint8))
        self._rows[(x, floor)] = found
        return found

    def _constant(self, name: str, value: float | list[int], dtype: type) -> str:
        """An initializer shared by every matmul of the graph."""
        if name not in self._shared:
            self._shared[name] = self.parts.const(f"row_int8.{name}", np.array(value, dtype))
        return self._shared[name]

    def _zeros(self, value: int, flat_scale: str) -> str:
        """``(rows,)`` of ``value``: QuantizeLinear wants one zero point per scale. Every
        activation of the graph has the same rows, so it is made once, from the first."""
        key = f"zeros_{value}"
        if key not in self._shared:
            one = self.parts.const(f"row_int8.{key}.one", np.array([value], np.uint8))
            count = self.parts.node("Shape", [flat_scale], f"row_int8.{key}.count")
            self._shared[key] = self.parts.node("Expand", [one, count], f"row_int8.{key}")
        return self._shared[key]
