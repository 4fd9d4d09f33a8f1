"""Memory: Spaces persist items and vectors in SQLite (or PostgreSQL + pgvector) and search
them exactly or by HNSW."""

from embedspace.store.catalog import delete_space, list_spaces
from embedspace.store.items import Item, Match, Snapshot, WriteResult
from embedspace.store.locations import resolve
from embedspace.store.space import ANN_THRESHOLD, Space

__all__ = [
    "ANN_THRESHOLD",
    "Item",
    "Match",
    "Snapshot",
    "Space",
    "WriteResult",
    "delete_space",
    "list_spaces",
    "resolve",
]
