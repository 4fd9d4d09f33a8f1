"""A Space's searches by an image or a sound, and "what song is this?"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedspace.encoders.landmarks import QUERY_DENSITY, LandmarkFingerprinter
from embedspace.errors import InvalidInput
from embedspace.io.audio import Audio
from embedspace.store import fingerprints
from embedspace.store.filters import where_sql
from embedspace.store.fingerprints import MIN_CONFIDENCE, MIN_SCORE, SongMatch
from embedspace.store.items import Item, Match
from embedspace.store.validate import check_k, check_text, embedded_queries

if TYPE_CHECKING:
    from embedspace.encoders import Encoder
    from embedspace.store import database as db
    from embedspace.store.database import Stamp

#: The shortest clip worth identifying, and the longest one taken.
MIN_CLIP_SECONDS = 0.5
MAX_CLIP_SECONDS = 600.0


class MediaSearch:
    """Mixed into ``Space``: search by an image or a sound, and identify songs."""

    _db: db.DatabaseHandle
    stamp: Stamp

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def encoder(self) -> Encoder:
        raise NotImplementedError

    def _dense_many(
        self,
        vectors: np.ndarray,
        k: int,
        where: Mapping[str, Any] | None,
        exact: bool,
        passages: bool,
    ) -> list[list[Match]] | None:
        """Each row's dense matches in one index call; ``None``: no such path."""
        raise NotImplementedError

    def get_many(self, ids: list[str]) -> list[Item]:
        raise NotImplementedError

    def check_queries(self) -> None:
        raise NotImplementedError

    def search(
        self,
        query: str | np.ndarray,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
        mode: str = "dense",
        alpha: float | None = None,
        embedded: np.ndarray | None = None,
        passages: bool = False,
    ) -> list[Match]:
        raise NotImplementedError

    def search_embedded(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
        passages: bool = False,
    ) -> list[list[Match]]:
        """``[search(text, k, where=where, embedded=vector, ...) for each text and vector]``
        in dense mode, for text queries their encoder embedded together (``search_many``):
        a SQLite space scans the filter once and searches them all in one index call
        (exact: one matrix product)."""
        k = check_k(k)
        for number, text in enumerate(texts, start=1):
            check_text(text, f"Query {number}")
        form = (self.stamp.dim, self.stamp.metric, self.stamp.encoder)
        matrix = embedded_queries(vectors, *form)
        if len(matrix) != len(texts):
            raise InvalidInput(f"{len(texts)} query texts but {len(matrix)} vectors.")
        if where:
            where_sql(where)  # a malformed filter is refused before any search
        self.check_queries()
        found = self._dense_many(matrix, k, where, exact, passages)
        if found is not None:
            return found
        return [
            self.search(t, k, where=where, exact=exact, embedded=v, passages=passages)
            for t, v in zip(texts, matrix, strict=True)
        ]

    def search_image(
        self,
        image: str | Path | Any,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to an image (a file path or a PIL image): reverse image
        search in an image space, or image-to-text in a text-and-image space."""
        k = check_k(k)
        if isinstance(image, str | Path) and not Path(image).is_file():
            raise InvalidInput(f"No image file at {image}. Check the path.")
        vector = self.encoder.encode_images([image])[0]
        self.check_queries()  # e.g. an image encoder trained again at the same path
        return self.search(vector, k, where=where, exact=exact)

    def search_sound(
        self,
        sound: str | Path | Audio,
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        exact: bool = False,
    ) -> list[Match]:
        """The ``k`` items closest to a sound (a file path, or ``Audio``) in a space of an
        audio encoder (aisfx, CLAP): "sounds like". Songs are identified by
        ``search_audio``."""
        k = check_k(k)
        item = _sound(sound)
        if "audio" not in self.encoder.modalities:
            raise InvalidInput(
                f"Space '{self.name}' holds {self.encoder.name} vectors, which do not embed "
                "sound. Search it with text, or index sounds into a space of an audio encoder "
                "(landmarks, aisfx, or a CLAP folder)."
            )
        vector = self.encoder.encode([item])[0]
        return self.search(vector, k, where=where, exact=exact)

    def search_audio(
        self,
        clip: str | Path | Audio,
        k: int = 5,
        *,
        min_score: int = MIN_SCORE,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> list[SongMatch]:
        """What song is ``clip`` (a file path, or ``Audio``: a few seconds, noise and all)?
        The ``k`` best songs of this space of song fingerprints (the ``landmarks``
        encoder), each with its ``score`` (the clip's landmark anchors that agree), where in
        the song the clip starts (``offset_s``) and a ``confidence``; ``[]`` when nothing
        matches well enough (``min_score``, ``min_confidence``): an unknown clip, noise or
        silence.

        Raises ``InvalidInput`` for a clip under 0.5 s or one that is not audio, and
        ``TooLarge`` past 10 minutes."""
        k = check_k(k)
        encoder = self.encoder
        if not isinstance(encoder, LandmarkFingerprinter):
            raise InvalidInput(
                f"Space '{self.name}' holds {encoder.name} vectors, not song fingerprints: "
                "search it by sound with search_sound, or index songs into a space of the "
                "landmarks encoder (an audio folder's default)."
            )
        samples = encoder.decode_clip(_sound(clip), MAX_CLIP_SECONDS)
        if len(samples) < MIN_CLIP_SECONDS * encoder.sample_rate:
            raise InvalidInput(
                f"The clip is {len(samples) / encoder.sample_rate:.2f} s long; identifying a "
                f"song needs at least {MIN_CLIP_SECONDS} s (2 to 10 s is best)."
            )
        made = encoder.fingerprint(samples, QUERY_DENSITY)
        found = fingerprints.identify(
            self._db.connection, made, k, min_score=min_score, min_confidence=min_confidence
        )
        rows = dict(
            self._db.connection.execute(
                f"SELECT rowid, id FROM items WHERE rowid IN ({','.join('?' * len(found))})",
                [rowid for rowid, *_ in found],
            ).fetchall()
        )
        items = {item.id: item for item in self.get_many([rows[r] for r, *_ in found if r in rows])}
        return [
            SongMatch(
                rows[r], score, offset, confidence, items[rows[r]].content, items[rows[r]].metadata
            )
            for r, score, offset, confidence in found
            if r in rows
        ]


def song_totals(connection: Any, encoder: str) -> dict[str, Any]:
    """What ``info`` adds about fingerprints: the space's ``kind``, and in a space of song
    fingerprints how many songs, hours and landmarks it holds."""
    if encoder != LandmarkFingerprinter.name:
        return {"kind": "vectors"}
    return {"kind": fingerprints.KIND, **fingerprints.totals(connection)}


def _sound(sound: str | Path | Audio) -> Path | Audio:
    """A sound query as the encoders take it; ``InvalidInput`` for a path with no file."""
    if isinstance(sound, Audio):
        return sound
    if not isinstance(sound, str | Path):
        raise InvalidInput(
            "A sound is a file path or embedspace.Audio(samples, rate), not "
            f"{type(sound).__name__}."
        )
    if not Path(sound).is_file():
        raise InvalidInput(f"No audio file at {sound}. Check the path.")
    return Path(sound)
