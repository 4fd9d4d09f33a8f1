"""Transformer text encoders run by onnxruntime (no torch at inference).

The engine behind the built-in ``minilm-l6`` encoders (see ``minilm``) and any ONNX model
directory a user names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cache_dir, cpu_count
from embedspace.encoders.base import Encoder
from embedspace.encoders.bucketing import call_cost, padded_cuts, spread
from embedspace.encoders.model_cache import mark_used, prune_orphans
from embedspace.encoders.threads import threads_asked
from embedspace.errors import EmbedspaceError, ModelNotAvailable

log = logging.getLogger("embedspace")
_TOKENIZE_CHUNK = 8192  # texts tokenized at once (bounds memory on huge inputs)
SINGLE_QUERY = 4  # up to this many texts run on one thread
# Calls of one batch run at once at most: each holds its own activations (minilm-l6, 32
# texts of 256 tokens: ~100 MB of attention scores), so more cores give each call threads.
MAX_SIDE_BY_SIDE = 8


class OnnxTextEncoder(Encoder):
    """A transformer ONNX model plus a ``tokenizers`` tokenizer.

    ``pooling`` is ``"mean"`` (mask-weighted mean of ``last_hidden_state``), ``"cls"`` or
    ``"none"`` (the model already outputs one vector per text). ``normalize`` L2-normalises.
    ``model_path`` and ``tokenizer_factory`` are resolved on first use only;
    ``cache_optimized`` keeps an onnxruntime-optimised copy in the cache folder.
    """

    def __init__(
        self,
        *,
        name: str,
        dim: int,
        model_path: Callable[[], Path],
        tokenizer_factory: Callable[[], Any],
        pooling: str = "mean",
        normalize: bool = True,
        source: str = "",
        unavailable: Callable[[], str | None] = lambda: None,
        cache_optimized: bool = True,
        recipe: Callable[[], str] = lambda: "",
        recipe_note: Callable[[], str] = lambda: "",
    ) -> None:
        self.name = name
        self._dim = dim
        self._model_path = model_path
        self._tokenizer_factory = tokenizer_factory
        self.pooling = pooling
        self.normalized = normalize
        self.source = source
        self._unavailable = unavailable
        self._cache_optimized = cache_optimized
        self._recipe = recipe
        self._recipe_note = recipe_note
        self._sessions: dict[int, Any] = {}  # by thread count
        self._starting = threading.Lock()
        self._tokenizer: Any = None
        self._input_names: set[str] = set()
        self._found = False  # the model's files were found once (they stay installed)
        self._uncut: Any = None  # a tokenizer without truncation, for token_counts

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return self._dim

    def runtime_recipe(self) -> str:
        """The quantization recipe the model runs with (``""`` if it has none)."""
        return self._recipe()

    def recipe_note(self) -> str:
        """Which recipe runs here and why, if known without preparing anything."""
        return self._recipe_note()

    def availability_error(self) -> EmbedspaceError | None:
        """``ModelNotAvailable`` when the model's files are not installed, else ``None``."""
        if self._found:  # checked on every encode call: a query need not look it up again
            return None
        reason = self._unavailable()
        if reason is None:
            self._found = True
            return None
        return ModelNotAvailable(f"Encoder '{self.name}' cannot run: {reason}")

    def _session_for(self, count: int) -> Any:
        """The session for one call embedding ``count`` texts (``_batches`` runs many
        texts as calls side by side instead): the thread count the caller asked for
        (``encoder_threads``), else all cores for more than a few; for a few (a query), one
        thread, or the session with the fewest threads this encoder has already (no second
        copy of the weights for a query). Each session is made on first use."""
        threads = threads_asked()
        if threads is None and count > SINGLE_QUERY:
            threads = cpu_count()
        elif threads is None:
            with self._starting:  # not while another thread adds a session
                threads = min(self._sessions, default=1)
        return self._session_with(threads)

    def _load_tokenizer(self) -> Any:
        with self._starting:
            if self._tokenizer is None:
                self._tokenizer = self._tokenizer_factory()
        return self._tokenizer

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (loaded on first use)."""
        return self._load_tokenizer()

    def embed_token_ids(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of rows of token ids given as they are (``(n, length)`` int64, no
        padding, special tokens included), pooled and normalised as texts are."""
        session = self._session_for(len(rows))
        ids = np.asarray(rows, dtype=np.int64)
        inputs = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        feeds = {k: v for k, v in inputs.items() if k in self._input_names}
        output = np.asarray(session.run(None, feeds)[0], dtype=np.float32)
        vectors = self._pool(output, inputs["attention_mask"])
        if self.normalized:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def _start_session(self, threads: int) -> Any:
        import onnxruntime as ort

        path = self._model_path()
        cached = _optimized_copy(path) if self._cache_optimized else None

        def start(model: Path) -> Any:
            options = ort.SessionOptions()
            # The cached copy is already optimised (extended level): re-running the
            # optimisers on it changes no output (checked: max |diff| 0.0) and costs ~7 ms
            # of a CLI search's start. onnxruntime's docs load offline-optimised models so.
            level = ort.GraphOptimizationLevel
            options.graph_optimization_level = (
                level.ORT_DISABLE_ALL if model == cached else level.ORT_ENABLE_ALL
            )
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            try:
                return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            except Exception as error:  # onnxruntime raises its own untyped errors
                hint = ""
                if cache_dir() in model.parents:
                    hint = " It is a derived file: delete it and it is prepared again."
                raise EmbedspaceError(
                    f"Could not load the ONNX model {model} for encoder '{self.name}': "
                    f"{error}.{hint}"
                ) from None

        try:
            session = start(cached or path)
        except EmbedspaceError:
            if cached is None:
                raise
            shutil.rmtree(cached.parent, ignore_errors=True)  # damaged: drop it, use the source
            session = start(path)
        self._input_names = {i.name for i in session.get_inputs()}
        return session

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for ``texts``: special tokens included, each text cut to
        the model's length as when embedded."""
        return sum(len(e.ids) for e in self._encodings(texts))

    @property
    def max_tokens(self) -> int | None:
        """The tokenizer's truncation length (minilm-l6: 256), or ``None`` if it has none."""
        truncation = getattr(self._load_tokenizer(), "truncation", None)
        return int(truncation["max_length"]) if truncation else None

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as the model would read them if nothing were cut."""
        with self._starting:
            if self._uncut is None:  # a second tokenizer: the shared one stays truncating
                self._uncut = self._tokenizer_factory()
                self._uncut.no_truncation()
        return [len(e.ids) for e in self._encodings(texts, self._uncut)]

    def count_truncated(self, texts: Sequence[str]) -> int:
        """How many ``texts`` exceed the tokenizer's truncation length (cut when embedded)."""
        return sum(1 for e in self._encodings(texts) if e.overflowing)

    def _encodings(self, texts: Sequence[str], tokenizer: Any = None) -> Iterator[Any]:
        """The encodings of ``texts`` by ``tokenizer`` (default: the model's, which cuts
        texts to its length), tokenized a chunk at a time."""
        if not texts:
            return
        tokenizer = tokenizer or self._load_tokenizer()
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            yield from tokenizer.encode_batch(list(texts[start : start + _TOKENIZE_CHUNK]))

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        session = self._session_for(len(batch))
        return self._run(session, self._tokenizer.encode_batch(batch))

    def _batches(self, texts: list[str], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # Tokenize once, then batch by token count: ordering by characters instead leaves
        # ~40% more padding on real sentences (measured: 166 vs 234 sentences/s). Calls are
        # cut where padding would cost more than another call (``padded_cuts``).
        plan = self._side_by_side(len(texts))
        workers = 1 if plan is None else plan[0]
        session = self._session_for(len(texts)) if plan is None else self._session_with(plan[1])

        def run(call: tuple[np.ndarray, list[Any]]) -> tuple[np.ndarray, np.ndarray]:
            return call[0], self._run(session, call[1])

        # cancelled on the way out: a caller that stops early (an error, Ctrl-C) waits for
        # the calls running, not for the rest of the chunk
        pool = ThreadPoolExecutor(workers) if workers > 1 else None
        try:
            for chunk_start in range(0, len(texts), _TOKENIZE_CHUNK):
                chunk = texts[chunk_start : chunk_start + _TOKENIZE_CHUNK]
                encodings = self._tokenizer.encode_batch(chunk)
                lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
                order = np.argsort(lengths, kind="stable")
                ordered = lengths[order]
                cuts = spread(padded_cuts(ordered, size), ordered, workers)
                if pool is not None:  # the dearest calls first: no core idles at the end
                    cuts.sort(key=lambda cut: call_cost(cut, ordered), reverse=True)
                calls = [
                    (order[a:b] + chunk_start, [encodings[i] for i in order[a:b]]) for a, b in cuts
                ]
                yield from (pool.map(run, calls) if pool else map(run, calls))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _side_by_side(self, count: int) -> tuple[int, int] | None:
        """How ``count`` texts run: ``(calls side by side, onnxruntime threads per call)``,
        or ``None`` for one call at a time on the session ``_session_for`` picks (a query's
        few texts, or a budget of one thread).

        The thread budget (every core, or what the caller set with ``encoder_threads``) is
        spent on single-threaded calls side by side, up to ``MAX_SIDE_BY_SIDE`` of them (each
        holds its own activations); a larger budget is split evenly into calls of a few
        threads each (12 cores: 6 calls of 2 threads), never more threads than the budget.
        On 2 cores, one call on a two-thread pool waits for its slower thread at each of the
        graph's ~360 operators, so it collapses when another program takes part of a core
        (352-660 sentences/s within minutes); two single-threaded calls held 546-735
        (median 1.4x, from 1.0x on a quiet machine to 1.9x on a busy one; bench/RESULTS.md
        §26). More than 2 cores: not measured."""
        budget = threads_asked() or cpu_count()
        if count <= SINGLE_QUERY or budget == 1:
            return None
        workers = min(budget, MAX_SIDE_BY_SIDE)
        while budget - workers * (budget // workers) > 1:  # at most one core left over
            workers -= 1
        return workers, budget // workers

    def _session_with(self, threads: int) -> Any:
        """The session on ``threads`` onnxruntime threads, made on first use."""
        with self._starting:  # two threads' first calls start one session, not two
            if threads not in self._sessions:
                self._sessions[threads] = self._start_session(threads)
        self._load_tokenizer()
        return self._sessions[threads]

    def _run(self, session: Any, encodings: list[Any]) -> np.ndarray:
        inputs = model_inputs(encodings)
        feeds = {k: v for k, v in inputs.items() if k in self._input_names}
        output = session.run(None, feeds)[0]
        vectors = self._pool(np.asarray(output, dtype=np.float32), inputs["attention_mask"])
        if self.normalized:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors

    def _pool(self, output: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if output.ndim == 2 or self.pooling == "none":
            return output
        if self.pooling == "cls":
            return np.ascontiguousarray(output[:, 0, :])
        weights = mask[..., None].astype(np.float32)
        summed: np.ndarray = (output * weights).sum(axis=1)
        pooled: np.ndarray = summed / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled


def model_inputs(encodings: list[Any]) -> dict[str, np.ndarray]:
    """``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, padded to the
    longest) for a batch of ``tokenizers`` encodings."""
    length = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros((len(encodings), length), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _optimized_copy(source: Path) -> Path | None:
    """The model with onnxruntime's graph optimisations (extended level: fusions, no
    CPU-specific layouts) applied once, saved in the cache folder with its weights as
    external data; ``None`` if it cannot be written.

    A process then neither re-optimises the graph nor parses one large protobuf at start:
    session start-up fell from ~0.35 s to ~0.08 s for minilm-l6, which matters for a CLI
    search. The copy is a folder (``model.onnx`` + ``model.onnx.data``) built under a temp
    name and renamed, so a crash never leaves half of it; its name holds a digest of the
    source path, size, mtime and the onnxruntime version, and its ``source`` file the
    source's path: writing a copy deletes the older copies of the same source (another
    onnxruntime's, an earlier version's) and the copies of sources that are gone (a pruned
    graph's) unused for a day (``model_cache.prune_orphans``).
    """
    import onnxruntime as ort

    try:
        stat = source.stat()
        key = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{ort.__version__}|ext"
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = cache_dir() / "onnx" / f"{source.stem}-{digest}"
        target = folder / "model.onnx"
        if target.exists():
            mark_used(folder)
            return target
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp = folder.with_name(f".{folder.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(temp / "model.onnx")
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", "model.onnx.data"
        )
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
        )
        options.log_severity_level = 3
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        (temp / "source").write_text(str(source.resolve()), encoding="utf-8")
        try:
            os.replace(temp, folder)
        except OSError:  # another process put its copy in place first: use that one
            shutil.rmtree(temp, ignore_errors=True)
        if not target.exists():
            return None
        mark_used(folder)
        prune_orphans(folder.parent, folder)  # copies of graphs that are gone (pruned)
        return target
    except Exception as error:  # a read-only home or a full disk: run from the source
        log.info("Not caching the optimised model of %s: %s", source, error)
        return None


def onnx_directory(path: Path) -> OnnxTextEncoder:
    """An encoder for a directory holding ``model.onnx`` (or ``onnx/model.onnx``) and
    ``tokenizer.json`` (and optionally sentence-transformers config files)."""
    model = next(p for p in (path / "model.onnx", path / "onnx" / "model.onnx") if p.exists())
    config = _read_json(path / "config.json")
    st_config = _read_json(path / "sentence_bert_config.json")
    pooling_config = _read_json(path / "1_Pooling" / "config.json")
    dim = int(pooling_config.get("word_embedding_dimension") or config.get("hidden_size") or 0)
    if dim <= 0:
        raise EmbedspaceError(
            f"Cannot tell the vector size of {path}: add config.json with 'hidden_size' "
            "(or 1_Pooling/config.json)."
        )
    pooling = "cls" if pooling_config.get("pooling_mode_cls_token") else "mean"
    max_length = int(st_config.get("max_seq_length") or 512)
    tokenizer_file = path / "tokenizer.json"
    if not tokenizer_file.exists():
        raise EmbedspaceError(f"{path} has no tokenizer.json; save the tokenizer next to it.")

    def tokenizer() -> Any:
        from tokenizers import Tokenizer

        loaded = Tokenizer.from_file(str(tokenizer_file))
        loaded.no_padding()
        loaded.enable_truncation(max_length)
        return loaded

    return OnnxTextEncoder(
        name=str(path),
        dim=dim,
        model_path=lambda: model,
        tokenizer_factory=tokenizer,
        pooling=pooling,
        normalize=True,
        source=f"ONNX directory {path}",
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EmbedspaceError(f"Cannot read {path}: {error}") from None
    return data if isinstance(data, dict) else {}
