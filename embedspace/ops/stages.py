"""How ops name the stages they report through ``on_progress`` (``embedspace.progress``)."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """``"1 item"``, ``"2,048 items"`` (nouns that take an s)."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
