"""Search by sound: identify a song in a space of fingerprints, or find what sounds alike
in a space of an audio encoder. One function for every face (CLI, HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput
from embedspace.io.audio import Audio
from embedspace.store import Space
from embedspace.store.fingerprints import KIND as FINGERPRINTS
from embedspace.store.fingerprints import SongMatch
from embedspace.store.items import Match


@dataclass(frozen=True)
class SoundResults:
    """What a sound query found: ``songs`` (identified, in a space of song fingerprints;
    empty: no match) or ``matches`` (nearest by an audio encoder's vectors)."""

    identified: bool
    songs: list[SongMatch] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)


def search_by_sound(
    space: Space,
    clip: str | Path | Audio,
    k: int,
    *,
    where: Mapping[str, Any] | None = None,
    exact: bool = False,
) -> SoundResults:
    """Identify ``clip`` in a space of song fingerprints ("what song is this?"), or search
    a space of an audio encoder (aisfx, CLAP) for the items that sound most like it."""
    if space.encoder.kind == FINGERPRINTS:
        if where:
            raise InvalidInput(
                "--where filters vectors; identifying a song looks at every song. Drop it."
            )
        return SoundResults(True, songs=space.search_audio(clip, k))
    return SoundResults(False, matches=space.search_sound(clip, k, where=where, exact=exact))
