"""The checks every public Space method runs on what it is given, before anything is read
or written: ids, texts, metadata, vectors and ``k``. Each raises ``InvalidInput`` (or
``DimensionMismatch``) saying what is wrong and what to do instead, so bad input never
escapes as a raw Python error and never gets into a space."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import DimensionMismatch, InvalidInput
from embedspace.io.records import unicode_problem

#: The longest space name or folder name of a space (room is left for the temporary name
#: it is built under).
MAX_NAME = 200
#: Largest vector length accepted in dot and euclidean spaces: scores of longer vectors
#: (products and squared distances) overflow float32.
MAX_NORM = 1e18


def listed(values: Any, what: str, example: str) -> list[Any]:
    """``values`` as a list; a single string or a non-iterable raises ``InvalidInput``."""
    if isinstance(values, str | bytes):
        raise InvalidInput(f"Pass a list of {what}, not one string: e.g. {example}.")
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise InvalidInput(f"Pass a list of {what}, not {type(values).__name__}: e.g. {example}.")
    return list(values)


def check_text(text: Any, what: str) -> None:
    """A string to store or embed: ``str``, not blank, valid Unicode."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{what} is empty or not a string; every item needs text.")
    problem = unicode_problem(text)
    if problem:
        raise InvalidInput(
            f"{what} holds {problem}. Fix how it was decoded (e.g. open the file with "
            "encoding='utf-8', or decode with errors='replace')."
        )


def check_id(item_id: Any) -> str:
    """An item id: a non-empty string of valid Unicode."""
    if not isinstance(item_id, str) or not item_id:
        raise InvalidInput(
            f"Ids must be non-empty strings, not {_short(item_id)} ({type(item_id).__name__}). "
            "Convert numbers with str()."
        )
    problem = unicode_problem(item_id)
    if problem:
        raise InvalidInput(f"The id {item_id!r} holds {problem}. Use ids of valid text.")
    return item_id


def check_k(k: Any) -> int:
    """``k``, the number of results: a whole number of at least 1."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InvalidInput(f"k must be a whole number of at least 1, not {_short(k)}.")
    if k < 1:
        raise InvalidInput(f"k must be at least 1, not {k}.")
    return operator.index(k)


def metadata_json(metadata: Any, item_id: str) -> str:
    """Metadata as stored: JSON with its types kept (numbers, booleans, strings, null, lists,
    mappings), numpy scalars as plain numbers. Raises ``InvalidInput`` for a metadata that
    is not a mapping, keys that are not strings, NaN, infinity, invalid Unicode or values
    JSON cannot hold."""
    advice = (
        "Use a mapping of string keys to strings, numbers, booleans, None, lists and "
        "mappings (None for a missing number)."
    )
    if not isinstance(metadata, Mapping):
        raise InvalidInput(
            f"The metadata of item '{item_id}' is {type(metadata).__name__}, not a mapping. "
            + advice
        )
    keys = [key for key in metadata if not isinstance(key, str)]
    if keys:
        raise InvalidInput(
            f"The metadata of item '{item_id}' has a key that is not a string: "
            f"{_short(keys[0])}. " + advice
        )
    try:
        text = json.dumps(
            dict(metadata), sort_keys=True, ensure_ascii=False, allow_nan=False, default=_plain
        )
    except (TypeError, ValueError, RecursionError) as error:
        reason = str(error)
        if isinstance(error, TypeError) and "not supported between" in reason:
            reason = "a nested mapping mixes key types"
        elif isinstance(error, RecursionError):
            reason = "it is nested too deeply"
        elif "Out of range float" in reason:
            reason = "it holds NaN or infinity"
        raise InvalidInput(
            f"The metadata of item '{item_id}' cannot be stored: {reason}. " + advice
        ) from None
    try:
        text.encode("utf-8")  # kept as written (ensure_ascii=False): finds lone surrogates
    except UnicodeEncodeError:
        raise InvalidInput(
            f"The metadata of item '{item_id}' holds {unicode_problem(dict(metadata))}. "
            "Fix how it was decoded (e.g. decode with errors='replace')."
        ) from None
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} {_short(value)} is not JSON-serialisable")


def vector_rows(vectors: Any, what: str) -> np.ndarray:
    """Numbers given as vectors, as float32 (1-d or 2-d as given); refuses strings,
    booleans, ragged lists, non-numbers and values beyond float32 (NaN, infinity)."""
    if isinstance(vectors, str | bytes):
        raise InvalidInput(f"{what.capitalize()} must be numbers, not a string.")
    try:
        array = np.asarray(vectors)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(
            f"{what.capitalize()} must be a list (or array) of equally long lists of numbers."
        ) from None
    if array.dtype.kind not in "iuf":
        kind = "booleans" if array.dtype.kind == "b" else f"{array.dtype} values"
        raise InvalidInput(
            f"{what.capitalize()} must be numbers (floats), not {kind}. Convert them first, "
            "e.g. np.asarray(vectors, dtype=np.float32)."
        )
    with np.errstate(over="ignore", invalid="ignore"):
        array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InvalidInput(
            f"{what.capitalize()} must be finite numbers within float32's range (±3.4e38): "
            "no NaN or infinity."
        )
    return array


def check_vectors(
    vectors: np.ndarray, dim: int, metric: str, what: str, encoder: str | None = None
) -> None:
    """``vectors`` (``(n, dim)`` float32, finite) fit a space of ``dim`` and ``metric``:
    the right size; in cosine spaces each has a direction (not all zeros); in dot and
    euclidean spaces each is short enough for scores not to overflow."""
    check_dim(vectors, dim, what, encoder)
    if not len(vectors):
        return
    peak = np.abs(vectors).max(axis=1)
    if metric == "cosine":
        if (peak == 0).any():
            row = int(np.argmax(peak == 0))
            raise InvalidInput(
                f"{_row(what, row, len(vectors))} is all zeros: it has no direction, so "
                "cosine similarity is undefined for it. Leave it out, or use a dot or "
                "euclidean space."
            )
        return
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    if (norms > MAX_NORM).any():
        row = int(np.argmax(norms > MAX_NORM))
        raise InvalidInput(
            f"{_row(what, row, len(vectors))} has length {norms[row]:.3g}; {metric} scores of "
            f"vectors longer than {MAX_NORM:.0e} overflow float32. Scale the vectors down."
        )


def check_dim(vectors: np.ndarray, dim: int, what: str, encoder: str | None = None) -> None:
    """Raise ``DimensionMismatch`` unless ``vectors`` have ``dim`` values each."""
    if vectors.shape[-1] != dim:
        made_by = f" made by '{encoder}'" if encoder else ""
        advice = (
            "Give vectors of that size, or use a space (an encoder) of their size."
            if what.startswith(("item", "the given"))
            else "Embed with the space's encoder."
        )
        raise DimensionMismatch(
            f"{what.capitalize()} has {vectors.shape[-1]} values per vector, but the space holds "
            f"{dim}-d vectors{made_by}. {advice}"
        )


def query_vector(
    query: Any, dim: int, metric: str, encoder: str, *, encoded: bool = False
) -> np.ndarray:
    """A query given as a vector: ``(1, dim)`` float32, checked as stored vectors are.
    ``encoded``: the vector of a text query that its encoder made already (the server and
    ``search_many`` embed queries in batches), taken as the encoder's output is: an all-zero
    vector stays one in a cosine space, as when the search embeds the text itself."""
    array = vector_rows(query, "the query vector")
    if array.ndim == 2 and len(array) == 1:
        array = array[0]
    if array.ndim != 1:
        raise InvalidInput(
            f"The query vector must be one vector of {dim} numbers, not shape {array.shape}."
        )
    vector = array.reshape(1, -1)
    if encoded:
        return embedded_queries(vector, dim, metric, encoder, "the query vector")
    check_vectors(vector, dim, metric, "the query vector", encoder)
    return vector


def embedded_queries(
    vectors: Any, dim: int, metric: str, encoder: str, what: str = "the query vectors"
) -> np.ndarray:
    """Vectors of text queries their encoder made (``(n, dim)`` float32), checked as the
    encoder's output is: the size, and in dot and euclidean spaces the length; an all-zero
    vector stays one in a cosine space, as when a search embeds its text itself."""
    matrix = vector_rows(vectors, what)
    if matrix.ndim != 2:
        raise InvalidInput(f"{what.capitalize()}: (n, {dim}) numbers, not shape {matrix.shape}.")
    if metric == "cosine":
        check_dim(matrix, dim, what, encoder)
    else:
        check_vectors(matrix, dim, metric, what, encoder)
    return matrix


def search_vector(
    query: Any,
    embedded: Any,
    form: tuple[int, str, str],
    encode: Callable[[str], np.ndarray],
    check_queries: Callable[[], None],
) -> np.ndarray:
    """A search's query as a ``(1, dim)`` float32 vector, in every backend: a text is
    checked, then embedded by ``encode`` unless the caller gave its ``embedded`` vector (the
    server and ``search_many`` embed queries in batches), then ``check_queries`` runs; any
    other query is a vector, checked as stored ones are. ``form``: (dim, metric, encoder)."""
    if not isinstance(query, str):
        if embedded is not None:
            raise InvalidInput("embedded= goes with a text query; a vector query is its vector.")
        return query_vector(query, *form)
    if not query.strip():
        raise InvalidInput("The query is empty: give some text to search for.")
    check_text(query, "The query")
    vector = encode(query) if embedded is None else query_vector(embedded, *form, encoded=True)
    check_queries()
    return vector


def checked_path(path: Path) -> Path:
    """A space's folder path that the file system can hold: a name of at most ``MAX_NAME``
    characters, valid Unicode, no NUL character."""
    text = str(path)
    problem = unicode_problem(text) or ("a NUL character" if "\0" in text else None)
    if problem:
        raise InvalidInput(f"The space path {text!r} holds {problem}. Choose another path.")
    if len(path.name.encode("utf-8")) > MAX_NAME:
        raise InvalidInput(
            f"The space folder name {path.name[:40]!r}… is {len(path.name)} characters long; "
            f"use at most {MAX_NAME}."
        )
    return path


def _row(what: str, row: int, count: int) -> str:
    if count == 1 and not what.startswith("the given"):
        return what.capitalize()
    return f"Vector {row} of {what}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
