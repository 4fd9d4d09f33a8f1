"""Song fingerprints in a space's database, and identifying a clip by them.

A space made with the ``landmarks`` encoder keeps, besides each item's (profile) vector,
the item's landmarks (``encoders/landmarks.py``): a ``landmarks`` table of (hash, item,
anchor frame), keyed by hash, and a ``fingerprints`` row per item with its length. They are
written in the transaction that writes the item, and a trigger removes them with it, so a
crash or a re-index leaves them exactly as consistent as the items.

Identification (Wang 2003): every stored landmark whose hash the clip also has proposes an
alignment, the stored anchor's frame minus the clip's. A clip of a song yields many
proposals at one alignment; chance matches scatter. A song's ``score`` is the number of the
clip's anchor peaks that agree on its best alignment (within one frame, as a clip cut
anywhere shifts the frame grid by up to half a frame). Counting anchor peaks rather than
landmarks keeps two notes that two songs share, whose harmonics pair into many landmarks,
from outvoting a real match: each anchor votes once, whatever its targets.
``confidence`` says how far the song's best alignment stands out from the best alignment
of any other song: ``1 - other / score``. (A song that repeats itself aligns well at several
times; that makes the offset uncertain, not the song.)
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedspace.encoders.landmarks import FRAME_SECONDS, Fingerprint

CHUNK = 900  # SQLite host parameters per IN (...) list
#: A match needs this many agreeing anchor peaks ...
MIN_SCORE = 12
#: ... and to stand out this far from the next song (at least 2.5 x its score). Both were
#: chosen on calibration queries of bench/audio.py's corpus (other clips than it reports;
#: bench/RESULTS.md §19): no false match in 120 unknown clips of 2-5 s, 95% of 2 s clips
#: at 5 dB SNR kept. 12 rather than 8: in a library of a few very alike songs, chance
#: alignments of 5 s clips reached 10, and few songs make a weak "next song".
MIN_CONFIDENCE = 0.6
#: A hash's anchor bin is its top bits (``encoders/landmarks.py``); bins are below 512.
ANCHOR_SHIFT = 15
BIN_SPAN = 512
#: Another song that has this share of a song's landmarks (where a clip matched) is a copy.
COPY_SHARE = 0.5
#: At most this many (stored landmark, clip landmark) pairs are weighed for one clip.
MAX_PAIRS = 2_000_000
KIND = "fingerprints"

#: Migration 4 of the space database (``database.MIGRATIONS``).
SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    item INTEGER PRIMARY KEY, frames INTEGER NOT NULL, landmarks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS landmarks (
    hash INTEGER NOT NULL, item INTEGER NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (hash, item, at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS landmarks_item ON landmarks(item);
CREATE TRIGGER IF NOT EXISTS fingerprints_on_delete AFTER DELETE ON items BEGIN
    DELETE FROM landmarks WHERE item = OLD.rowid;
    DELETE FROM fingerprints WHERE item = OLD.rowid;
END;
"""


@dataclass(frozen=True, slots=True)
class SongMatch:
    """A song a clip was identified as: ``score`` (agreeing anchor peaks), where in the
    song the clip starts (``offset_s``), and ``confidence`` (0 to 1)."""

    id: str
    score: int
    offset_s: float
    confidence: float
    content: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As JSON-able values."""
        return {
            "id": self.id,
            "score": self.score,
            "offset_s": self.offset_s,
            "confidence": self.confidence,
            "metadata": self.metadata,
        }


def write(connection: sqlite3.Connection, prints: list[tuple[int, Fingerprint]]) -> None:
    """Store the fingerprints of these item rowids (inside the caller's transaction)."""
    for rowid, made in prints:
        connection.execute("DELETE FROM landmarks WHERE item = ?", (rowid,))
        connection.execute(
            "INSERT OR REPLACE INTO fingerprints(item, frames, landmarks) VALUES (?, ?, ?)",
            (rowid, made.frames, len(made.hashes)),
        )
        connection.executemany(
            "INSERT OR IGNORE INTO landmarks(hash, item, at) VALUES (?, ?, ?)",
            zip(
                made.hashes.tolist(), [rowid] * len(made.hashes), made.offsets.tolist(), strict=True
            ),
        )


def totals(connection: sqlite3.Connection) -> dict[str, Any]:
    """How many songs are fingerprinted, their hours, and their landmarks."""
    songs, frames, landmarks = connection.execute(
        "SELECT count(*), coalesce(sum(frames), 0), coalesce(sum(landmarks), 0) FROM fingerprints"
    ).fetchone()
    return {
        "songs": int(songs),
        "hours": round(frames * FRAME_SECONDS / 3600, 4),
        "landmarks": int(landmarks),
    }


def _hits(connection: sqlite3.Connection, hashes: np.ndarray) -> np.ndarray:
    """Stored ``(hash, item, at)`` rows of these hashes, as an ``(n, 3)`` int64 array."""
    unique = np.unique(hashes).tolist()
    rows: list[tuple[int, int, int]] = []
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        rows += connection.execute(
            f"SELECT hash, item, at FROM landmarks WHERE hash IN ({marks})", chunk
        ).fetchall()
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@dataclass(frozen=True, slots=True)
class Alignment:
    """The best alignment of a clip with one stored item."""

    item: int
    score: int
    delta: int  # stored frame - clip frame
    #: The clip's anchor peaks with a vote for this item at any alignment.
    support: int = 0


def _affordable(q_hash: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """``hits`` without the commonest hashes when pairing every hit with every clip
    landmark of its hash would pass ``MAX_PAIRS``: a hash that thousands of landmarks
    share says little about which song it is, and would cost memory in proportion."""
    stored, per_hash = np.unique(hits[:, 0], return_counts=True)
    in_clip = np.searchsorted(q_hash, stored, side="right") - np.searchsorted(
        q_hash, stored, side="left"
    )
    cost = per_hash * in_clip
    if int(cost.sum()) <= MAX_PAIRS:
        return hits
    order = np.argsort(cost, kind="stable")  # cheapest first: keep while within budget
    kept = stored[order[np.cumsum(cost[order]) <= MAX_PAIRS]]
    return hits[np.isin(hits[:, 0], kept)]


def align(clip: Fingerprint, hits: np.ndarray) -> list[Alignment]:
    """Each item's best alignment with ``clip`` (see the module's docstring), best first."""
    if not len(hits) or not len(clip.hashes):
        return []
    order = np.argsort(clip.hashes, kind="stable")
    q_hash, q_at = clip.hashes[order], clip.offsets[order].astype(np.int64)
    hits = _affordable(q_hash, hits)
    lo = np.searchsorted(q_hash, hits[:, 0], side="left")
    counts = np.searchsorted(q_hash, hits[:, 0], side="right") - lo
    total = int(counts.sum())
    if total == 0:
        return []
    firsts = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
    times = q_at[firsts]
    anchors = times * BIN_SPAN + (q_hash[firsts] >> ANCHOR_SHIFT)
    items = np.repeat(hits[:, 1], counts)
    deltas = np.repeat(hits[:, 2], counts) - times
    # one vote per (item, alignment, clip anchor peak); an alignment's score also takes the
    # votes of its neighbours, one frame either side; among equal scores the alignment with
    # the most votes of its own wins (so a clean alignment is not reported a frame early)
    votes = np.unique(np.stack([items, deltas, anchors], axis=1), axis=0)
    spread = np.unique(np.concatenate([votes + [0, step, 0] for step in (-1, 0, 1)]), axis=0)
    keys, score = np.unique(spread[:, :2], axis=0, return_counts=True)
    own_keys, own = np.unique(votes[:, :2], axis=0, return_counts=True)
    found = np.searchsorted(_packed(own_keys), _packed(keys))
    found = np.minimum(found, len(own_keys) - 1)
    exact = np.where(_packed(own_keys)[found] == _packed(keys), own[found], 0)
    ranked = np.lexsort((keys[:, 1], -exact, -score, keys[:, 0]))
    first = np.ones(len(ranked), dtype=bool)
    first[1:] = keys[ranked[1:], 0] != keys[ranked[:-1], 0]
    best = sorted(ranked[first].tolist(), key=lambda i: (-int(score[i]), int(keys[i, 0])))
    voters = np.unique(votes[:, [0, 2]], axis=0)[:, 0]  # (item, anchor) pairs, by item
    owners, support = np.unique(voters, return_counts=True)
    supported = dict(zip(owners.tolist(), support.tolist(), strict=True))
    return [
        Alignment(int(keys[i, 0]), int(score[i]), int(keys[i, 1]), supported[int(keys[i, 0])])
        for i in best
    ]


def _packed(keys: np.ndarray) -> np.ndarray:
    """(item, delta) rows as one sortable int64 each (deltas are far below 2**31)."""
    return np.asarray(keys[:, 0] * (1 << 32) + (keys[:, 1] + (1 << 31)), dtype=np.int64)


def identify(
    connection: sqlite3.Connection,
    clip: Fingerprint,
    k: int,
    *,
    min_score: int = MIN_SCORE,
    min_confidence: float = MIN_CONFIDENCE,
) -> list[tuple[int, int, float, float]]:
    """The ``k`` best songs for ``clip`` as ``(item rowid, score, offset_s, confidence)``,
    only those with at least ``min_score`` and ``min_confidence`` (none: "no match").

    A song's confidence is ``1 - other / score``, ``other`` being the best score of another
    song that is not a copy of it (``_copies``): two copies of one recording do not count
    against each other, and both are found."""
    songs = align(clip, _hits(connection, clip.hashes))
    results = []
    for song in songs[:k]:
        rivals = (o for o in songs if o is not song)
        needed = song.score * (1 - min_confidence)  # rivals below this cannot stop a match
        other = next(
            (o.score for o in rivals if o.score < needed or not _copies(connection, song, o, clip)),
            0,
        )
        confidence = max(0.0, 1.0 - other / song.score)
        if song.score >= min_score and confidence >= min_confidence:
            offset = round(max(song.delta, 0) * FRAME_SECONDS, 3)
            results.append((song.item, song.score, offset, round(confidence, 4)))
    return results


def _copies(
    connection: sqlite3.Connection, song: Alignment, other: Alignment, clip: Fingerprint
) -> bool:
    """Whether ``other`` is a copy of ``song`` where the clip matched them: over the clip's
    span, most of the landmarks stored for one are stored for the other too, at the same
    times (within a frame; a re-encoded copy shifts some peaks). Two songs that share a
    phrase by chance share a handful, not most."""
    marks = []
    for found in (song, other):
        rows = connection.execute(
            "SELECT hash, at FROM landmarks WHERE item = ? AND at BETWEEN ? AND ?",
            (found.item, found.delta, found.delta + clip.frames),
        ).fetchall()
        marks.append({(h, at - found.delta) for h, at in rows})
    mine, theirs = marks
    if not mine or not theirs:
        return False
    shared = sum(
        1 for h, at in mine if (h, at) in theirs or (h, at - 1) in theirs or (h, at + 1) in theirs
    )
    return shared >= COPY_SHARE * min(len(mine), len(theirs))
