"""The Record: one item to embed, with its id and metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Record:
    """One item to embed.

    ``content`` is the text that is embedded, or for ``modality="image"`` (``"audio"``) the
    image (sound) file's path; ``vector`` is set only when the input already carries an embedding
    (``--vector-field``), in which case it is stored as given.
    """

    id: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None
    modality: str = "text"


def content_hash(content: str) -> str:
    """SHA-256 of the UTF-8 content, hex: the key of the never-embed-twice cache."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def record_hash(record: Record) -> str:
    """The cache key of a record: its text's hash, or for an image the hash of the file's
    bytes (so an edited photo at the same path is embedded again, a copy is not); a sound
    file's likewise."""
    if record.modality in ("image", "audio"):
        digest = hashlib.sha256(record.modality.encode() + b"\0")
        with open(record.content, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    return content_hash(record.content)


def unicode_problem(value: Any) -> str | None:
    """What makes ``value`` unstorable as UTF-8 text, or ``None``: a lone surrogate (as
    ``errors="surrogateescape"`` decoding or a JSON ``"\\udc80"`` escape make) in a string, or
    in any string of nested lists and mappings (keys too)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            return (
                f"a lone surrogate {value[error.start]!r} at position {error.start}, which is "
                "not valid Unicode text"
            )
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unicode_problem(key) or unicode_problem(item)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = unicode_problem(item)
            if problem:
                return problem
    return None


def derive_id(content: str) -> str:
    """A stable id for content that came without one: the first 16 hex digits of its hash."""
    return content_hash(content)[:16]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row (or, with ``row`` 0, a whole file) that could not become a Record, and why."""

    path: str
    row: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}, row {self.row}" if self.row else self.path
        return f"{where}: {self.reason}"
