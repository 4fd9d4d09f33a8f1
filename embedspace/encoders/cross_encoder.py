"""Cross-encoders: a model that reads a query and a text together and scores how well the
text answers it. Slower than comparing vectors, more exact: the second stage of a search
(``ops/rerank.py``) re-orders its first results.

A model is a folder the user names (no weights ship with embedspace, and nothing is
downloaded):

- an **ONNX export** (``model.onnx`` or ``onnx/model.onnx`` with ``tokenizer.json``): run
  by onnxruntime, no torch;
- a **sentence-transformers CrossEncoder / transformers sequence-classification folder**
  (``config.json``, weights, tokenizer): run by transformers on torch (the ``clip`` extra).

The score is the model's logit for "relevant" (its only output, or the last of several).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.errors import InvalidInput, MissingExtra

#: Pairs scored per model call.
BATCH = 32
#: Tokens of a (query, text) pair the model reads; the longer of the two is cut first.
MAX_TOKENS = 512


def _onnx_file(folder: Path) -> Path | None:
    for candidate in (folder / "model.onnx", folder / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    return None


class CrossEncoder:
    """A cross-encoder from the folder ``path``; loaded on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._run: Any = None

    def check(self) -> None:
        """Raise ``InvalidInput`` if ``path`` is not a cross-encoder folder."""
        if not self.path.is_dir():
            raise InvalidInput(
                f"No cross-encoder folder at {self.path}: give the folder of a "
                "sentence-transformers CrossEncoder or of its ONNX export."
            )
        onnx = _onnx_file(self.path)
        if onnx is not None and not (self.path / "tokenizer.json").is_file():
            raise InvalidInput(f"{self.path} has {onnx.name} but no tokenizer.json beside it.")
        if onnx is None and not (self.path / "config.json").is_file():
            raise InvalidInput(
                f"{self.path} holds neither model.onnx (with tokenizer.json) nor a "
                "transformers config.json: not a cross-encoder folder."
            )

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """How well each of ``texts`` answers ``query`` (higher is better), ``(n,)``."""
        if not texts:
            return np.empty(0, dtype=np.float32)
        with self._lock:
            if self._run is None:
                self.check()
                self._run = self._load()
        scores = [self._run(query, list(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
        return np.concatenate(scores).astype(np.float32)

    def _load(self) -> Any:
        onnx = _onnx_file(self.path)
        return self._onnx(onnx) if onnx is not None else self._transformers()

    def _onnx(self, model: Path) -> Any:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
        tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_count()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}

        def run(query: str, texts: list[str]) -> np.ndarray:
            encodings = tokenizer.encode_batch([(query, text) for text in texts])
            inputs = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            logits = session.run(None, {k: v for k, v in inputs.items() if k in names})[0]
            return _relevance(np.asarray(logits))

        return run

    def _transformers(self) -> Any:
        try:
            import torch

            transformers: Any = importlib.import_module("transformers")
        except ImportError:
            raise MissingExtra("A cross-encoder folder", "clip", "transformers") from None
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()  # our output is ours
        folder = str(self.path)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True
        ).eval()

        def run(query: str, texts: list[str]) -> np.ndarray:
            batch = tokenizer(
                [query] * len(texts),
                texts,
                padding=True,
                truncation="longest_first",
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            with torch.no_grad():
                logits = model(**batch).logits
            return _relevance(logits.float().numpy())

        return run


def _relevance(logits: np.ndarray) -> np.ndarray:
    """The "relevant" score of each pair: the only logit, or the last one."""
    return logits.reshape(len(logits), -1)[:, -1]
