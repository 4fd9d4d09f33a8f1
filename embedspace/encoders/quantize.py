"""SmoothQuant + dynamic int8: the fast CPU form of a BERT encoder, kept within 0.1% cosine.

Plain dynamic int8 of every matmul runs 2.8x faster than sentence-transformers here but
moves vectors by ~0.7% (cosine 0.993): BERT's LayerNorm outputs have a few huge channels,
and one int8 scale per activation tensor cannot cover them. SmoothQuant (Xiao et al.,
2023) divides each activation channel by ``s = amax^a / wmax^(1-a)`` and multiplies the
weight rows it meets by ``s``: the product is unchanged, the outliers move into the
weights, which are quantized per channel. Applied to the query, key and feed-forward-in
matmuls (~45% of the work); the other matmuls stay fp32. onnxruntime's ``quantize_dynamic``
does the int8 conversion; the scales come from calibration text run through the fp32 graph.
With ``per_row`` the same scales feed ``row_int8`` instead, which makes all six matmuls of
a layer int8 with one activation scale per token row (the ``int8-rows`` recipes).

Whether the int8 kernels are exact depends on the CPU (``encoders.cpu``), so ``minilm``
measures each recipe on the machine before using it (``encoders.recipe``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.bert_graph import BertShape, attention_input, build, ffn_input

# The value projection stays fp32: quantizing it cost most of the error (mean cosine 0.99926
# -> 0.99957 on 2,000 real sentences without it, and 0.9990 -> 0.9994 on the guard texts).
QUANTIZED = ("query", "key", "ffn_up")
ALPHA = 0.7  # migration strength: 0.7 kept the most fidelity on 5,000 real sentences


def _smoothing_targets(weights: dict[str, np.ndarray], shape: BertShape) -> dict[str, list[str]]:
    targets = {}
    for layer in range(shape.layers):
        prefix = f"encoder.layer.{layer}"
        targets[attention_input(layer)] = [
            f"{prefix}.attention.self.{part}.weight" for part in ("query", "key", "value")
        ]
        targets[ffn_input(layer)] = [f"{prefix}.intermediate.dense.weight"]
    return targets


def activation_ranges(
    weights: dict[str, np.ndarray], shape: BertShape, batches: Iterable[dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Per-channel max |activation| of every smoothing target over real (unpadded) tokens."""
    import onnxruntime as ort

    names = list(_smoothing_targets(weights, shape))
    model = build(weights, shape, expose=tuple(names))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    ranges: dict[str, np.ndarray] = {}
    for feeds in batches:
        outputs = session.run(names, feeds)
        real = feeds["attention_mask"].reshape(-1) > 0
        for name, values in zip(names, outputs, strict=True):
            peak = np.abs(values.reshape(-1, values.shape[-1])[real]).max(axis=0)
            ranges[name] = np.maximum(ranges[name], peak) if name in ranges else peak
    return ranges


def smoothing_scales(
    weights: dict[str, np.ndarray],
    shape: BertShape,
    ranges: dict[str, np.ndarray],
    alpha: float = ALPHA,
) -> dict[str, np.ndarray]:
    """SmoothQuant scales per target: ``amax^alpha / wmax^(1 - alpha)``, clipped to sane."""
    scales = {}
    for name, weight_names in _smoothing_targets(weights, shape).items():
        # Hugging Face stores (out, in): the input channel is axis 1.
        wmax = np.max([np.abs(weights[w]).max(axis=0) for w in weight_names], axis=0)
        scale = np.power(np.maximum(ranges[name], 1e-5), alpha) / np.power(
            np.maximum(wmax, 1e-5), 1 - alpha
        )
        scales[name] = np.clip(scale, 1e-2, 1e3).astype(np.float32)
    return scales


def quantized_model(
    weights: dict[str, np.ndarray],
    shape: BertShape,
    batches: Iterable[dict[str, np.ndarray]],
    target: Path,
    *,
    signed_weights: bool = True,
    per_row: bool = False,
    alpha: float = ALPHA,
) -> None:
    """Write the smoothed, int8-quantized graph to ``target`` (not atomically: callers write
    to a temp name and rename).

    ``signed_weights`` stores int8 weights (u8 x s8 matmuls, exact only with VNNI);
    ``False`` stores uint8 weights (u8 x u8 matmuls, exact on every x86-64 CPU; see
    ``encoders.cpu``). ``per_row`` makes every matmul int8 with a scale per activation row
    (``row_int8``) instead of the dynamic per-tensor int8 of ``QUANTIZED`` alone."""
    scales = smoothing_scales(
        weights, shape, activation_ranges(weights, shape, batches), alpha=alpha
    )
    if per_row:
        import onnx

        model = build(weights, shape, smooth=scales, row_int8=True, signed_weights=signed_weights)
        onnx.save(model, target)
        return
    model = build(weights, shape, smooth=scales)
    quantize = [
        f"layer{layer}.{part}.matmul" for layer in range(shape.layers) for part in QUANTIZED
    ]
    # onnxruntime.quantization logs advice to the root logger; keep the user's stderr clean.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        _quantize(model, target, quantize, signed_weights)
    finally:
        logging.disable(previous)


def _quantize(model: Any, target: Path, nodes: list[str], signed_weights: bool) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        smoothed = Path(folder) / "smoothed.onnx"
        onnx.save(model, smoothed)
        quantize_dynamic(
            smoothed,
            target,
            per_channel=True,
            weight_type=QuantType.QInt8 if signed_weights else QuantType.QUInt8,
            nodes_to_quantize=nodes,
        )
