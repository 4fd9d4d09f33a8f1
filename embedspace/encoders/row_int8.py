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
with ``ReduceMax`` and quantizes with a per-axis ``QuantizeLinear`` over the rows, then
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
    """Emits per-row int8 matmuls into the graph ``parts`` being written.
    ``signed_weights``: int8 weights (u8 x s8 kernels, exact with VNNI) or uint8 weights
    with zero point 128 (u8 x u8, exact on every x86-64 CPU)."""

    parts: GraphParts
    signed_weights: bool = True
    _rows: dict[tuple[str, float | None], tuple[str, str, str]] = field(
        default_factory=dict, init=False, repr=False
    )

    def dense(
        self,
        x: str,
        matrix: np.ndarray,
        bias: np.ndarray,
        out: str,
        leading: str,
        *,
        floor: float | None = None,
    ) -> str:
        """``x @ matrix + bias`` in int8, ``x`` of shape ``(..., in)``; ``leading`` is a 1-D
        int64 tensor of ``x``'s leading dimensions followed by -1 (where the output's
        width goes). ``floor``: a known lower bound of ``x`` (quantized unsigned from it)."""
        width, outputs = matrix.shape
        rows, row_scale, zero = self._quantized(x, width, floor)
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
        shaped = self.parts.node("Reshape", [product, leading], f"{out}.int8_shaped")
        bias_name = self.parts.const(f"{out}.bias", bias.astype(np.float32))
        return self.parts.node("Add", [shaped, bias_name], out)

    def _quantized(self, x: str, width: int, floor: float | None) -> tuple[str, str, str]:
        """``x`` as uint8 rows ``(rows, width)``, their scales ``(rows, 1)`` and zero point;
        made once per tensor (the query, key and value matmuls share theirs)."""
        if (x, floor) in self._rows:
            return self._rows[(x, floor)]
        node, const = self.parts.node, self.parts.const
        if floor is None:  # symmetric: |x| <= 127 steps either side of 128
            peak = node("ReduceMax", [node("Abs", [x], f"{x}.abs")], f"{x}.peak", axes=[-1])
            steps, zero_value = 127.0, 128
            source = x
        else:  # x >= floor: x - floor spans 0..255 steps
            source = node("Sub", [x, const(f"{x}.floor", np.array(floor, np.float32))], f"{x}.up")
            peak = node("ReduceMax", [source], f"{x}.peak", axes=[-1])
            steps, zero_value = 255.0, 0
        scale = node(
            "Max",
            [
                node(
                    "Mul", [peak, const(f"{x}.per_step", np.array(1 / steps, np.float32))], f"{x}.s"
                ),
                const(f"{x}.tiny", np.array(1e-12, np.float32)),
            ],
            f"{x}.row_scale",
        )  # (..., 1): an all-zero row gets a tiny scale, not a division by zero
        flat_scale = node(
            "Reshape", [scale, const(f"{x}.flat", np.array([-1], np.int64))], f"{x}.scales"
        )
        zeros = node(  # QuantizeLinear wants one zero point per scale: (rows,) of zero_value
            "Expand",
            [
                const(f"{x}.zero_one", np.array([zero_value], np.uint8)),
                node("Shape", [flat_scale], f"{x}.n"),
            ],
            f"{x}.zeros",
        )
        rows = node(
            "QuantizeLinear",
            [
                node(
                    "Reshape",
                    [source, const(f"{x}.rows_shape", np.array([-1, width], np.int64))],
                    f"{x}.rows",
                ),
                flat_scale,
                zeros,
            ],
            f"{x}.uint8",
            axis=0,
        )
        column = node(
            "Reshape",
            [scale, const(f"{x}.column", np.array([-1, 1], np.int64))],
            f"{x}.column_scale",
        )
        found = (rows, column, const(f"{x}.zero", np.array(zero_value, np.uint8)))
        self._rows[(x, floor)] = found
        return found
