"""The Record: one item to embed, with its id and metadata."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Record:
    """One item to embed.

    ``content`` is the text that is embedded; ``vector`` is set only when the input already
    carries an embedding (``--vector-field``), in which case it is stored as given.
    """

    id: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None


def content_hash(content: str) -> str:
    """SHA-256 of the UTF-8 content, hex: the key of the never-embed-twice cache."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def derive_id(content: str) -> str:
    """A stable id for content that came without one: the first 16 hex digits of its hash."""
    return content_hash(content)[:16]
