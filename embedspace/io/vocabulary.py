"""Word lists: one word per line, most frequent first, optionally followed by a count."""

from __future__ import annotations

from pathlib import Path

from embedspace.errors import InvalidInput
from embedspace.io.readers import decode_text


def read_vocabulary(path: Path) -> tuple[list[str], list[int] | None]:
    """Words one per line, most frequent first, optionally followed by a count (on every
    line or on none): the words and their counts (``None`` without counts)."""
    if not path.is_file():
        raise InvalidInput(f"No vocabulary file at {path}.")
    words: list[str] = []
    counts: list[int] = []
    text = decode_text(path.read_bytes(), path, "Give a text file, one word per line.")
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        words.append(parts[0])
        if len(parts) > 1:
            try:
                counts.append(int(parts[1]))
            except ValueError:
                raise InvalidInput(f"{path}, line {number}: the count must be a number.") from None
    if counts and len(counts) != len(words):
        raise InvalidInput(f"{path}: give a count on every line or on none.")
    if not words:
        raise InvalidInput(f"{path} holds no words.")
    return words, counts or None
