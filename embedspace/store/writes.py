"""How items get into a space: one SQLite transaction per write, embeddings computed outside
it, unchanged content never embedded twice (the content-hash cache), deletions logged for
the derived indexes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embedspace.encoders import Encoder
from embedspace.encoders.landmarks import Fingerprint, LandmarkFingerprinter
from embedspace.errors import DimensionMismatch, EmbedspaceError, EncoderMismatch, InvalidInput
from embedspace.io.records import Record, record_hash
from embedspace.progress import ProgressCallback
from embedspace.store import database as db
from embedspace.store import fingerprints
from embedspace.store.items import WriteResult, id_list, metadata_json

log = logging.getLogger("embedspace")
MODALITIES = ("text", "image", "audio")
CHUNK = 900  # SQLite host parameters per IN (...) list
#: Cosine vectors with values beyond this (or below its inverse) are scaled before their
#: norm is taken, which would overflow (or underflow) float32.
_SAFE_PEAK = 1e15


def recipes(connection: Any) -> list[str]:
    """The encoder recipes the space's stored vectors were made with, oldest first."""
    return recorded_recipes(connection) or []


def recorded_recipes(connection: Any) -> list[str] | None:
    """``recipes``, or ``None`` for a space made before spaces kept them (no such key)."""
    kept = db.read_meta(connection).get("recipes")
    return None if kept is None else [str(r) for r in kept]


def kept_recipes(stored: list[str] | None, holds_vectors: bool, encoder: Encoder) -> list[str]:
    """The recipes a space's vectors were made with: ``stored`` (as recorded), or, for a
    space holding vectors made before spaces kept recipes (``stored`` is ``None``), its
    encoder's ``unrecorded_recipe``; none for a space without vectors."""
    if not holds_vectors:
        return []
    if stored is None:
        return [encoder.unrecorded_recipe] if encoder.unrecorded_recipe else []
    return stored


def refuse_incomparable(kept: list[str], name: str, encoder_name: str, encoder: Encoder) -> None:
    """Raise ``EncoderMismatch`` when ``encoder``'s vectors here cannot be compared with
    the space's (``kept``: its recipes), as with another table of a static encoder."""
    here = encoder.runtime_recipe()
    if here and kept and here not in kept and not encoder.recipes_comparable:
        raise EncoderMismatch(
            f"Space '{name}' holds {encoder_name} vectors made with {' and '.join(kept)}; "
            f"{encoder_name} here makes {here}, and vectors of the two cannot be compared. "
            f"Index the texts again into a new space (embedspace index NEW FILES --encoder "
            f"{encoder_name}), or search this one with the encoder (or model folder) that "
            "made its vectors, if you still have it."
        )


class HoldsVectors(Protocol):
    """What ``refuse_other_table`` reads of a space (SQLite or PostgreSQL)."""

    @property
    def name(self) -> str: ...
    @property
    def encoder(self) -> Encoder: ...
    @property
    def stamp(self) -> db.Stamp: ...
    def vector_recipes(self) -> list[str]: ...
    def __len__(self) -> int: ...


def refuse_other_table(space: HoldsVectors) -> None:
    """Before any work writes into ``space`` (an index run, a Ray job): refuse its encoder's
    vectors when they cannot be compared with the stored ones (``refuse_incomparable``),
    also when nothing would be embedded. Encoders of comparable recipes are not asked for
    theirs (minilm-l6's may need measuring, and a vectors-only write needs no model)."""
    encoder = space.encoder
    if not encoder.recipes_comparable and len(space):  # an emptied space starts again
        refuse_incomparable(space.vector_recipes(), space.name, space.stamp.encoder, encoder)


def refuse_incomparable_write(
    connection: Any,
    items: str,
    recorded: Callable[[], list[str] | None],
    name: str,
    encoder_name: str,
    encoder: Encoder,
) -> None:
    """``refuse_incomparable`` for vectors of ``encoder`` about to join a space whose items
    live in the table ``items`` (the same SQL in SQLite and PostgreSQL), before this
    write's rows are in it; ``recorded`` reads the recipes kept for the space."""
    if not encoder.recipes_comparable and encoder.runtime_recipe():
        kept = kept_recipes(recorded(), holds_rows(connection, items), encoder)
        refuse_incomparable(kept, name, encoder_name, encoder)


def holds_rows(connection: Any, items: str) -> bool:
    """Whether the items table ``items`` has a row (SQLite and PostgreSQL alike)."""
    return bool(connection.execute(f"SELECT EXISTS (SELECT 1 FROM {items})").fetchone()[0])


def check_recipe(
    stored: list[str] | None, holds_vectors: bool, name: str, encoder_name: str, encoder: Encoder
) -> None:
    """Before queries of ``encoder`` meet a space's vectors: refuse vectors that cannot be
    compared (``refuse_incomparable``), warn about another recipe of comparable ones."""
    kept = kept_recipes(stored, holds_vectors, encoder)
    refuse_incomparable(kept, name, encoder_name, encoder)
    warn_if_other_recipe(kept, name, encoder_name, encoder.runtime_recipe())


def warn_if_other_recipe(stored: list[str], name: str, encoder: str, here: str) -> None:
    """Log a warning if queries here run another recipe (``here``) than the space's stored
    vectors were made with (``stored``: e.g. a space built on a VNNI machine, searched on an
    AVX2 one). Every backend calls it with the recipes it keeps."""
    if here and stored and here not in stored:
        # A recipe may carry a model tag after its name ("int8-s8 model 3f2a…"): another
        # tag means the model folder was trained again at the same path.
        retrained = {r.partition(" ")[2] for r in stored} != {here.partition(" ")[2]}
        why = (
            "the model at that path was trained again since: its stored vectors are the old "
            "model's; make a new space with it (or delete this one and index again)"
            if retrained
            else "this CPU's choice. Scores may differ by about 0.001; re-index for "
            "identical vectors, or use an fp32 encoder everywhere"
        )
        log.warning(
            "Space '%s' holds vectors made by %s with the %s recipe; queries here run %s (%s).",
            name,
            encoder,
            " and ".join(stored),
            here,
            why,
        )


class ItemWriter:
    """The write path of one space: ``write`` (add or upsert), ``delete``,
    ``update_metadata``; plus the lookups they share with reads."""

    def __init__(
        self,
        database: db.DatabaseHandle,
        name: str,
        stamp: db.Stamp,
        encoder: Callable[[], Encoder],
    ) -> None:
        self._db, self._name, self._stamp, self._encoder = database, name, stamp, encoder

    def write(
        self,
        records: list[Record],
        *,
        replace: bool,
        on_progress: ProgressCallback | None = None,
        replacing: Sequence[str] = (),
        precomputed: Mapping[str, np.ndarray] | None = None,
    ) -> WriteResult:
        """Insert (``replace``: or replace) ``records`` in one transaction; the items of the
        documents ``replacing`` (their passages, or their own item) that are not among
        ``records`` are deleted in the same transaction. ``precomputed``: vectors of this
        space's encoder by content hash, used instead of embedding those records."""
        existing = self.lookup([r.id for r in records])
        if not replace:
            refuse_taken(existing, self._name)
        hashes = [self._hash(r) for r in records]
        # from the stamp: a space of vectors made elsewhere has no encoder to ask
        printing = self._prints_songs()
        if printing:
            check_sounds(records, precomputed, self._name)
        needed = [
            i
            for i, r in enumerate(records)
            if r.vector is None and (r.id not in existing or existing[r.id][1] != hashes[i])
        ]
        # a song's landmarks are made with its vector; none are copied from a twin
        cached = {} if printing else self.cached_vectors([hashes[i] for i in needed])
        to_embed = [i for i in needed if hashes[i] not in cached]
        given = checked_vectors(precomputed or {}, self._stamp.dim)
        fresh = {i: given[hashes[i]] for i in to_embed if hashes[i] in given}
        to_embed = [i for i in to_embed if i not in fresh]
        prints: dict[int, Fingerprint] = {}
        if to_embed and printing:
            made_prints = self._fingerprint(records, to_embed, on_progress)
            prints = dict(zip(to_embed, made_prints, strict=True))
            fresh.update({i: made.profile for i, made in prints.items()})
        elif to_embed:
            # checked again in the write's transaction; here before the embedding's work
            self._refuse_incomparable(self._encoder())
            made = self._embed([records[i] for i in to_embed], on_progress)
            fresh.update(zip(to_embed, made, strict=True))
        connection = self._db.connection
        with db.transaction(connection):
            # Re-read inside the write lock: another writer may have committed meanwhile.
            existing = self.lookup([r.id for r in records])
            if not replace and existing:
                raise InvalidInput(
                    f"{len(existing)} id(s) were added meanwhile; nothing was added."
                )
            if fresh:
                self._record_recipe()
            done = self._commit(records, hashes, existing, cached, fresh, on_progress, prints)
            removed = self._remove_parts(replacing, {r.id for r in records})
        return WriteResult(done.added, done.updated, done.unchanged, done.embedded, removed)

    def _passages_of(self, documents: list[str]) -> list[int]:
        """Rowids of the passages of ``documents`` (deleting a document deletes them)."""
        rowids: list[int] = []
        for start in range(0, len(documents), CHUNK):
            chunk = documents[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            rowids += [
                row[0]
                for row in self._db.connection.execute(
                    "SELECT rowid FROM items WHERE json_extract(metadata, '$._document') "
                    f"IN ({marks})",
                    chunk,
                )
            ]
        return rowids

    def _remove_parts(self, documents: Sequence[str], keep: set[str]) -> int:
        """Delete the items of ``documents`` (by id, or by their ``_document`` field) that
        are not in ``keep``: what a re-indexed document no longer has."""
        connection = self._db.connection
        stale: list[int] = []
        wanted = list(dict.fromkeys(id_list(documents))) if documents else []
        for start in range(0, len(wanted), CHUNK // 2):
            chunk = wanted[start : start + CHUNK // 2]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT rowid, id FROM items WHERE id IN ({marks}) "
                f"OR json_extract(metadata, '$._document') IN ({marks})",
                [*chunk, *chunk],
            )
            stale += [rowid for rowid, item_id in rows if item_id not in keep]
        if stale:
            self._delete_rows(stale, self.bump(-len(stale)))
        return len(stale)

    def _refuse_incomparable(self, encoder: Encoder) -> None:
        """``refuse_incomparable_write`` for vectors of ``encoder`` about to join."""
        connection = self._db.connection
        recorded = lambda: recorded_recipes(connection)  # noqa: E731
        name, made_by = self._name, self._stamp.encoder
        refuse_incomparable_write(connection, "items", recorded, name, made_by, encoder)

    def _record_recipe(self) -> None:
        """Remember, in the write's transaction, the recipe the encoder ran with (e.g.
        minilm-l6's ``int8-s8``), so a space can tell when queries run another one."""
        encoder = self._encoder()
        recipe = encoder.runtime_recipe()
        if not recipe:
            return
        self._refuse_incomparable(encoder)
        connection = self._db.connection
        # a space without rows starts its list again (an emptied space has no old vectors)
        recorded = recipes(connection) if holds_rows(connection, "items") else []
        if recipe not in recorded:
            db.write_meta(connection, {"recipes": [*recorded, recipe]})

    def _commit(
        self,
        records: list[Record],
        hashes: list[str],
        existing: dict[str, tuple[int, str, str]],
        cached: dict[str, np.ndarray],
        fresh: dict[int, np.ndarray],
        on_progress: ProgressCallback | None,
        prints: dict[int, Fingerprint],
    ) -> WriteResult:
        connection = self._db.connection
        added = updated = unchanged = 0
        inserts: list[tuple[str, str, str, str, bytes]] = []
        printed: list[tuple[str, Fingerprint]] = []
        replaced: list[int] = []
        for position, record in enumerate(records):
            meta_json = metadata_json(record.metadata, record.id)
            old = existing.get(record.id)
            if old is not None and old[1] == hashes[position] and record.vector is None:
                if old[2] == meta_json:
                    unchanged += 1
                else:
                    connection.execute(
                        "UPDATE items SET metadata = ? WHERE rowid = ?", (meta_json, old[0])
                    )
                    updated += 1
                continue
            vector = record.vector if record.vector is not None else fresh.get(position)
            if vector is None:
                vector = cached.get(hashes[position])
            if vector is None and position not in prints and self._prints_songs():
                # changed by another writer since this one looked: fingerprint it now
                prints[position] = self._fingerprint(records, [position], on_progress)[0]
                vector = prints[position].profile
            if vector is None:  # its cached twin was deleted by another writer meanwhile
                vector = self._embed([record], on_progress)[0]
                self._record_recipe()  # in this transaction, like any fresh vector
            if position in prints:
                printed.append((record.id, prints[position]))
            if old is not None:
                replaced.append(old[0])
                updated += 1
            else:
                added += 1
            stored = self.prepare(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
            inserts.append(
                (record.id, record.content, hashes[position], meta_json, stored.tobytes())
            )
        if inserts or replaced or updated:
            version = self.bump(added)
            self._delete_rows(replaced, version)
            connection.executemany(
                "INSERT INTO items(id, content, content_hash, metadata, vector) VALUES (?,?,?,?,?)",
                inserts,
            )
        if printed:
            rowids = self.lookup([item_id for item_id, _ in printed])
            fingerprints.write(connection, [(rowids[i][0], made) for i, made in printed])
        return WriteResult(added, updated, unchanged, len(fresh))

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items by id in one transaction; returns how many existed."""
        wanted = id_list(ids)
        with db.transaction(self._db.connection):
            found = self.lookup(wanted)
            rowids = [rowid for rowid, _, _ in found.values()]
            rowids += self._passages_of([i for i in wanted if i not in found])
            rowids = list(dict.fromkeys(rowids))  # a passage named and its document: once
            if not rowids:
                return 0
            version = self.bump(-len(rowids))
            self._delete_rows(rowids, version)
        return len(rowids)

    def update_metadata(self, updates: Mapping[str, Mapping[str, Any]]) -> int:
        """Merge new fields into existing items' metadata, in one transaction. Everything
        is checked before the transaction: ids, and each update as metadata is."""
        if not isinstance(updates, Mapping):
            raise InvalidInput(
                f"update_metadata takes a mapping of id to new fields, not "
                f"{type(updates).__name__}: e.g. {{'id1': {{'topic': 'food'}}}}."
            )
        wanted = id_list(list(updates))
        for item_id in wanted:
            metadata_json(updates[item_id], item_id)
        connection = self._db.connection
        with db.transaction(connection):
            found = self.lookup(wanted)
            missing = [i for i in wanted if i not in found]
            if missing:
                raise InvalidInput(
                    f"Not in space '{self._name}': {', '.join(missing[:5])}; nothing was changed."
                )
            rows = []
            for id_ in wanted:
                rowid, _, old = found[id_]
                merged = {**json.loads(old), **dict(updates[id_])}
                rows.append((metadata_json(merged, id_), rowid))
            connection.executemany("UPDATE items SET metadata = ? WHERE rowid = ?", rows)
            self.bump(0)
        return len(rows)

    def _hash(self, record: Record) -> str:
        if record.modality not in MODALITIES:
            raise InvalidInput(
                f"Item '{record.id}' has modality '{record.modality}'; "
                f"use one of: {', '.join(MODALITIES)}."
            )
        try:
            return record_hash(record)
        except OSError as error:
            raise InvalidInput(
                f"Cannot read the {record.modality} file of item '{record.id}': {error}"
            ) from None

    def _embed(self, records: list[Record], on_progress: ProgressCallback | None) -> np.ndarray:
        return embed_records(self._encoder(), records, on_progress)

    def _prints_songs(self) -> bool:
        """Whether this space keeps song fingerprints (the landmarks encoder's spaces)."""
        return self._stamp.encoder == LandmarkFingerprinter.name

    def _fingerprint(
        self, records: list[Record], positions: list[int], on_progress: ProgressCallback | None
    ) -> list[Fingerprint]:
        """The landmarks (and profile vectors) of these sound records."""
        encoder = self._encoder()
        if not isinstance(encoder, LandmarkFingerprinter):  # kind "fingerprints" says it is
            raise EmbedspaceError(f"Encoder '{encoder.name}' makes no song fingerprints.")
        sounds = [Path(records[i].content) for i in positions]
        return encoder.fingerprints(sounds, on_progress=on_progress)

    def prepare(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors as stored and searched (``prepare_vectors``)."""
        return prepare_vectors(vectors, self._stamp.metric)

    def bump(self, count_delta: int) -> int:
        """Count one more committed write (inside the caller's transaction)."""
        connection = self._db.connection
        meta = db.read_meta(connection)
        version = int(meta.get("data_version", 0)) + 1
        db.write_meta(
            connection,
            {"data_version": version, "count": int(meta.get("count", 0)) + count_delta},
        )
        return version

    def _delete_rows(self, rowids: list[int], version: int) -> None:
        if not rowids:
            return
        connection = self._db.connection
        connection.executemany(
            "INSERT OR REPLACE INTO deletions(rowid, version) VALUES (?, ?)",
            [(r, version) for r in rowids],
        )
        connection.executemany("DELETE FROM items WHERE rowid = ?", [(r,) for r in rowids])

    def lookup(self, ids: list[str]) -> dict[str, tuple[int, str, str]]:
        """``id -> (rowid, content hash, metadata JSON)`` for the ids that exist."""
        found: dict[str, tuple[int, str, str]] = {}
        connection = self._db.connection
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in connection.execute(
                f"SELECT id, rowid, content_hash, metadata FROM items WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = (row[1], row[2], row[3])
        return found

    def cached_vectors(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these content hashes (those some item has)."""
        found: dict[str, np.ndarray] = {}
        unique = sorted(set(hashes))
        connection = self._db.connection
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            for digest, blob in connection.execute(
                f"SELECT content_hash, vector FROM items WHERE content_hash IN ({marks})", chunk
            ):
                found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found


def checked_vectors(vectors: Mapping[str, np.ndarray], dim: int) -> dict[str, np.ndarray]:
    """Vectors made elsewhere (``upsert(precomputed=)``), checked: ``(dim,)`` and finite,
    or ``DimensionMismatch``/``InvalidInput`` before anything is written."""
    checked = {}
    for digest, vector in vectors.items():
        array = np.asarray(vector, dtype=np.float32).reshape(-1)
        if array.shape != (dim,):
            raise DimensionMismatch(
                f"A precomputed vector has {array.size} values; this space's have {dim}. "
                "Make them with the space's encoder."
            )
        if not np.isfinite(array).all():
            raise InvalidInput("A precomputed vector holds NaN or infinity; nothing was written.")
        checked[digest] = array
    return checked


def check_sounds(
    records: Sequence[Record], precomputed: Mapping[str, Any] | None, space: str
) -> None:
    """A fingerprint space takes sound files only: its landmarks are made from the sound."""
    if precomputed or any(r.vector is not None or r.modality != "audio" for r in records):
        raise InvalidInput(
            f"Space '{space}' holds song fingerprints, made from sound files: give it audio "
            "files (Records of modality 'audio', as embedspace.io.audio reads them), not texts, "
            "images or ready-made vectors. Nothing was written."
        )


def refuse_taken(existing: Mapping[str, Any], space: str) -> None:
    """``InvalidInput`` naming ids an ``add`` finds already stored (``existing``)."""
    if existing:
        taken = sorted(existing)[:5]
        raise InvalidInput(
            f"{len(existing)} id(s) already in space '{space}' (e.g. "
            f"{', '.join(taken)}); nothing was added. Use upsert to replace them."
        )


def embed_records(
    encoder: Encoder, records: list[Record], on_progress: ProgressCallback | None
) -> np.ndarray:
    """The records' vectors, in one pass of the encoder's loop (texts and images
    together; image records hold a file path, given to the encoder as a ``Path``)."""
    items = [
        Path(r.content)
        if r.modality in ("image", "audio") and isinstance(r.content, str)
        else r.content
        for r in records
    ]
    return encoder.encode_document(items, on_progress=on_progress)


def prepare_vectors(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Vectors as stored and searched, in every backend: finite float32, unit length in
    cosine spaces (scaled by their largest value first, so that values near float32's limit
    do not overflow the norm; an all-zero vector an encoder made stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise InvalidInput("Vectors must be finite numbers (no NaN or infinity).")
    if metric == "cosine":
        peak = np.abs(vectors).max(axis=1, keepdims=True)
        extreme = (peak > _SAFE_PEAK) | ((peak > 0) & (peak < 1 / _SAFE_PEAK))
        if extreme.any():
            vectors = vectors / np.where(extreme, peak, 1.0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(vectors, dtype=np.float32)
