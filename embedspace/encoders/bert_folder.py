"""A BERT sentence encoder held as Hugging Face weights in a folder (``model.safetensors``,
``config.json``, ``vocab.txt``; mean pooling, unit vectors), run by onnxruntime without
torch: the shipped all-MiniLM-L6-v2 and the text encoders ``embedspace train text-encoder``
fine-tunes from it.

On first use its ONNX graphs are written from the weights (``bert_graph``; SmoothQuant +
int8 by ``quantize``) into the cache folder, and the int8 recipe for this CPU is chosen by
measuring each candidate against the fp32 graph (``recipe``). Files are written to a temp
name and renamed, so concurrent first uses and crashes are safe.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.cpu import cpu_class
from embedspace.encoders.model_cache import cached_path, prepared_file
from embedspace.encoders.onnx_text import OnnxTextEncoder, model_inputs
from embedspace.encoders.recipe import RECIPES, Choice, Trial, choose
from embedspace.errors import EmbedspaceError, InvalidInput

log = logging.getLogger("embedspace")
_UNSAVED: dict[str, Choice] = {}  # choices a read-only cache could not keep, by key

GRAPH_VERSION = "5"  # bump when the graph or a quantization recipe changes
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
HEADLINES = Path(__file__).resolve().parent.parent / "data" / "headlines.csv"
#: Texts from the training data that a fine-tuned folder keeps for calibrating its int8
#: graph and checking its fidelity (one per line).
DOMAIN_TEXTS = "calibration.txt"


def headlines() -> list[str]:
    """The headlines that ship with embedspace."""
    with HEADLINES.open(encoding="utf-8", newline="") as handle:
        return [row["headline"] for row in csv.DictReader(handle)]


def guard_texts(limit: int = 300) -> list[str]:
    """Texts every candidate recipe is checked on, all shipped with embedspace: the
    headlines, their words one by one, and ``limit`` sentences of embedspace's own
    docstrings (real English prose of 4-60 words, in a fixed order)."""
    lines = headlines()
    words = sorted({w.strip("?!.,:;'\"").lower() for h in lines for w in h.split()} - {""})
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
    return lines + words[:60] + prose[::step][:limit]


def onnxruntime_stamp() -> str:
    """Which onnxruntime is installed, without importing it or ``importlib.metadata``
    (either costs ~40 ms of a CLI search): its package file's size and mtime."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        return "no onnxruntime"
    stat = Path(spec.origin).stat()
    return f"onnxruntime {stat.st_size} {stat.st_mtime_ns}"


def wordpiece(folder: Path, max_tokens: int | None) -> Any:
    """The lower-casing WordPiece tokenizer of ``folder/vocab.txt``, cutting texts to
    ``max_tokens`` (``None``: never)."""
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=True)
    if max_tokens is not None:
        tokenizer.enable_truncation(max_tokens)
    return tokenizer


class BertFolder:
    """The prepared graphs, recipe choice and encoders of one folder of BERT weights.

    ``folder()`` finds the folder (raising ``ModelNotAvailable`` when it is missing);
    ``unavailable()`` says why it cannot run without raising. ``cache_name`` names the
    prepared files; ``identity`` is added to their key (e.g. the folder's path).
    Nothing is read until a graph, the tokenizer or the recipe is needed.
    """

    def __init__(
        self,
        cache_name: str,
        folder: Callable[[], Path],
        unavailable: Callable[[], str | None],
        *,
        max_tokens: int = 256,
        identity: str = "",
    ) -> None:
        self.cache_name = cache_name
        self.folder = folder
        self.unavailable = unavailable
        self.max_tokens = max_tokens
        self.identity = identity

    def tokenizer(self) -> Any:
        """The folder's WordPiece tokenizer (lower-cased, truncated to ``max_tokens``)."""
        return wordpiece(self.folder(), self.max_tokens)

    def domain_texts(self) -> list[str]:
        """The folder's own sample of its training texts (``DOMAIN_TEXTS``), if it has one."""
        file = self.folder() / DOMAIN_TEXTS
        if not file.is_file():
            return []
        return [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]

    def calibration_texts(self) -> list[str]:
        """What SmoothQuant's scales are measured on: the shipped headlines, plus the
        folder's own training texts when it keeps some."""
        return headlines() + self.domain_texts()

    def weights_key(self) -> str:
        """What the prepared files depend on, besides the recipe: the weights file and the
        onnxruntime version (read from package metadata, so nothing heavy is imported)."""
        stat = (self.folder() / "model.safetensors").stat()
        parts = [GRAPH_VERSION, str(stat.st_size), str(stat.st_mtime_ns), onnxruntime_stamp()]
        return "|".join([*parts, self.identity] if self.identity else parts)

    def prepared_model(self, variant: str) -> Path:
        """The ONNX file of recipe ``variant`` (a name in ``recipe.RECIPES``, e.g.
        ``"int8-rows"`` or ``"fp32"``; ``"int8"`` means the recipe chosen for this CPU),
        written on first use."""
        if variant == "int8":
            variant = self.chosen_recipe().recipe
        if variant not in RECIPES:
            raise InvalidInput(
                f"Unknown {self.cache_name} variant '{variant}'; choose int8 (this CPU's "
                f"recipe) or one of {', '.join(RECIPES)}."
            )
        recipe = RECIPES[variant]

        def write(temp: Path) -> None:
            import onnx
            from safetensors.numpy import load_file

            from embedspace.encoders.bert_graph import BertShape, build
            from embedspace.encoders.quantize import quantized_model

            folder = self.folder()
            weights = load_file(str(folder / "model.safetensors"))
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            shape = BertShape.from_config(config)
            if recipe.signed_weights is None:
                onnx.save(build(weights, shape), temp)
            else:
                batches = self._calibration_batches()
                quantized_model(
                    weights,
                    shape,
                    batches,
                    temp,
                    signed_weights=recipe.signed_weights,
                    per_row=recipe.per_row,
                )

        return prepared_file(
            f"{self.cache_name}-{variant}",
            f"{self.weights_key()}|{variant}",
            write,
            what=f"{self.cache_name} ({variant}) model",
            # A shipped model's name is its own: older versions of it can go. A trained
            # folder's name is shared by every trained folder (its identity is in the key).
            prune=not self.identity,
        )

    def _calibration_batches(self) -> Iterator[dict[str, np.ndarray]]:
        tokenizer, texts = self.tokenizer(), self.calibration_texts()
        for start in range(0, len(texts), 16):
            yield model_inputs(tokenizer.encode_batch(texts[start : start + 16]))

    def _choice_key(self) -> str:
        return f"{self.weights_key()}|{cpu_class()}"

    def recorded_choice(self) -> Choice | None:
        """The recipe already chosen on this machine, or ``None`` if none was yet (reads
        one small file; prepares nothing)."""
        if self.unavailable() is not None:
            return None
        file = cached_path(f"{self.cache_name}-choice", self._choice_key(), ".json")
        try:
            return Choice.from_json(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def chosen_recipe(self) -> Choice:
        """The recipe for this CPU: chosen once per machine by measuring each candidate
        against the fp32 graph (``encoders.recipe``), then read from the cache folder. The
        first process to finish choosing wins; a cache folder that cannot be written keeps
        the choice for this process only (with a warning)."""
        found = self.recorded_choice()
        if found is not None:
            return found
        key = self._choice_key()
        if key in _UNSAVED:
            return _UNSAVED[key]
        machine_class = cpu_class()
        made: list[Choice] = []

        def write(temp: Path) -> None:
            made.append(choose(machine_class, self.measure))
            temp.write_text(json.dumps(made[0].to_json(), indent=1), encoding="utf-8")

        try:
            path = prepared_file(
                f"{self.cache_name}-choice",
                key,
                write,
                what=f"{self.cache_name} recipe choice",
                suffix=".json",
            )
        except EmbedspaceError as error:
            if not made:
                raise
            log.warning("%s Using %s in this process only.", error, made[0].recipe)
            _UNSAVED[key] = made[0]
            return made[0]
        return Choice.from_json(json.loads(path.read_text(encoding="utf-8")))

    def measure(self, variant: str) -> Trial:
        """Run ``variant`` and fp32 on ``guard_texts`` (and the folder's own texts) and
        compare. Timings: CPU time of this process (what another busy process on the
        machine disturbs least), five interleaved rounds, the fastest of each."""
        texts = guard_texts() + self.domain_texts()
        reference = self.encoder(f"{self.cache_name}-fp32", "fp32", "fp32")
        candidate = self.encoder(f"{self.cache_name}-{variant}", variant, variant)
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

    def encoder(
        self,
        name: str,
        variant: str,
        source: str,
        *,
        dim: int = 384,
        model_path: Callable[[str], Path] | None = None,
        tag: str = "",
    ) -> OnnxTextEncoder:
        """An encoder called ``name`` running recipe ``variant`` (``"int8"``: this CPU's
        choice, resolved on first use and then fixed for the encoder's life);
        ``model_path(recipe)`` finds the graph (default ``prepared_model``). ``tag`` is
        added to the recipe that spaces record (e.g. which training of a folder)."""
        resolved: list[str] = []
        graph = model_path or self.prepared_model

        def recipe() -> str:
            """The recipe this encoder runs, resolved once: its sessions and the spaces it
            writes agree even if another process records a different choice meanwhile."""
            if not resolved:
                resolved.append(self.chosen_recipe().recipe if variant == "int8" else variant)
            return resolved[0]

        return OnnxTextEncoder(
            name=name,
            dim=dim,
            model_path=lambda: graph(recipe()),  # the recipe alone, without the tag
            tokenizer_factory=self.tokenizer,
            source=source,
            unavailable=self.unavailable,
            recipe=lambda: f"{recipe()} {tag}" if tag else recipe(),
            recipe_note=lambda: self.recipe_note(variant),
        )

    def recipe_note(self, variant: str) -> str:
        """Which recipe runs (or will be chosen) for ``variant``, without preparing anything."""
        if variant != "int8":
            return f"runs {variant}"
        choice = self.recorded_choice()
        if choice is None:
            return f"recipe chosen on first use for this CPU ({cpu_class()})"
        return f"runs {choice.explain()}"
