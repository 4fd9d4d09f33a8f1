"""Ingest: files and folders → records → a space, with a report (what ``embedspace index``
does, for every face).

Every input is read and checked before anything is written; items are then written in
batches of ``BATCH``, each one transaction, so an interrupted run keeps what it wrote and
resumes when run again (unchanged items are not embedded twice).

Each item remembers where it came from: the metadata field ``_source`` (``SOURCE_KEY``)
holds the absolute path of the file or folder it was read from, as named. With
``sync=True`` the items of those sources that are no longer in them are removed, so a
space follows an edited file or folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedspace import config
from embedspace.encoders import Encoder
from embedspace.encoders import get as get_encoder
from embedspace.errors import DimensionMismatch, InvalidInput, SpaceExists
from embedspace.io import Record, Rejection, read_records
from embedspace.io.audio import audio_record, is_audio_path
from embedspace.io.documents import DOCUMENT_SUFFIXES, read_document
from embedspace.io.folder_items import read_folder
from embedspace.io.images import image_record, is_image_path
from embedspace.io.outputs import check_new_folder, write_error
from embedspace.io.passages import DOCUMENT_KEY
from embedspace.ops.chunking import Chunked, split_documents, write_batches
from embedspace.ops.ray_engine import RayEngine
from embedspace.progress import ProgressCallback, report
from embedspace.store import Space, WriteResult, resolve
from embedspace.store.database import KEYWORD_INDEXES
from embedspace.store.items import check_records
from embedspace.store.locations import postgres_location
from embedspace.store.writes import refuse_other_table

#: Items per write transaction.
BATCH = 1024
#: The metadata field that records the file or folder an item was read from.
SOURCE_KEY = "_source"
_REPORT_EVERY = 256  # items read between progress reports


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did. ``removed`` is ``None`` unless it synced."""

    space: str
    read: int
    added: int
    updated: int
    unchanged: int
    embedded: int
    rejected: list[Rejection]
    removed: int | None
    count: int
    seconds: float
    truncated: int = 0  # texts longer than the encoder reads: cut to fit when embedded
    split: int = 0  # long documents stored as passages (``ops/chunking.py``)
    passages: int = 0  # the passages they became


@dataclass
class _Source:
    """One named input: its path as given, the ``_source`` value, and what it yielded."""

    path: Path
    key: str
    ids: list[str] = dataclasses.field(default_factory=list)
    rejected: list[Rejection] = dataclasses.field(default_factory=list)


def ingest(
    space: str | Path,
    paths: Sequence[str | Path],
    *,
    text_fields: Sequence[str] = (),
    id_field: str | None = None,
    vector_field: str | None = None,
    encoder: str | None = None,
    metric: str | None = None,
    skip_invalid: bool = False,
    sync: bool = False,
    chunk_tokens: int | None = None,
    chunk_overlap: int | None = None,
    keyword_index: str | None = None,
    ann: str | None = None,
    engine: RayEngine | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Read ``paths`` (tables, text files, images, folders of images and text files) into
    the space ``space``, creating it (with ``encoder`` and ``metric``) if it is new.

    Rows without text or id stop the run (``InvalidInput``, nothing written) unless
    ``skip_invalid``; unreadable images and text files in folders are always skipped. All
    skipped inputs are in the report's ``rejected``. Texts longer than the encoder reads
    are stored as passages of ``chunk_tokens`` tokens (default: the encoder's window; 0:
    never split) overlapping by ``chunk_overlap``; a re-indexed document's passages are
    replaced in one transaction. ``keyword_index`` (``porter`` or ``trigram``) is the kind
    of keyword index a new space gets, ``ann`` how its HNSW index holds vectors
    (``Space.create``). ``engine`` (a ``RayEngine``) embeds the texts on Ray
    instead of in this process; the space is written here either way.
    """
    started = time.perf_counter()
    sources = [_Source(Path(p), str(Path(p).resolve())) for p in paths]
    records = _read_all(sources, text_fields, id_field, vector_field, skip_invalid, on_progress)
    rejected = [r for s in sources for r in s.rejected]
    if not records:
        raise InvalidInput(_nothing_to_index(sources))
    if sync:
        _check_syncable(sources)
    folders = {s.key for s in sources if s.path.is_dir()}
    named = {r.modality for r in records if r.metadata[SOURCE_KEY] not in folders}
    target = _open_or_create(
        space,
        {r.modality for r in records},
        named,
        encoder,
        metric,
        on_progress,
        check=lambda dim, kind, made_by: _check_all(records, dim, kind, made_by),
        keyword_index=keyword_index,
        ann=ann,
    )
    with target:
        records, unfit = _fit_encoder(records, folders, target.encoder)
        rejected += unfit
        read = len(records)
        chunked = split_documents(records, target.encoder, chunk_tokens, chunk_overlap)
        records = chunked.records
        made = engine.vectors(target, records, on_progress) if engine else None
        written = _write(target, chunked, on_progress, made)
        if engine:
            engine.finished()
        removed = _remove_gone(target, sources, on_progress) if sync else None
        target.optimize()
        texts = [r.content for r in records if r.modality == "text" and r.vector is None]
        return IngestReport(
            space=target.name,
            read=read,
            added=written.added,
            updated=written.updated,
            unchanged=written.unchanged,
            embedded=written.embedded,
            rejected=rejected,
            removed=removed,
            count=len(target),
            seconds=round(time.perf_counter() - started, 3),
            truncated=target.encoder.count_truncated(texts),
            split=chunked.split,
            passages=chunked.passages,
        )


def _write(
    space: Space,
    chunked: Chunked,
    on_progress: ProgressCallback | None,
    made: Mapping[str, np.ndarray] | None = None,
) -> WriteResult:
    """Upsert the records in batches of about ``BATCH``, one transaction each (a document's
    passages, and the removal of its old ones, in one)."""
    added = updated = unchanged = embedded = removed = done = 0
    stage = f"Indexing into {space.name}"
    total = len(chunked.records)
    report(on_progress, stage, 0, total)
    for batch, replacing in write_batches(chunked, BATCH):
        result = space.upsert(batch, replacing=replacing, precomputed=made)
        added += result.added
        updated += result.updated
        unchanged += result.unchanged
        embedded += result.embedded
        removed += result.removed
        done += len(batch)
        report(on_progress, stage, done, total)
    return WriteResult(added, updated, unchanged, embedded, removed)


def read_source(
    path: Path, text_fields: Sequence[str], id_field: str | None, vector_field: str | None
) -> tuple[bool, list[Record | Rejection]]:
    """The items of one input and whether it is a folder or image (whose unreadable files
    are skipped) rather than a table or text file (whose bad rows stop a run)."""
    if path.is_dir():
        return True, list(read_folder(path))
    if is_image_path(path) and path.is_file():
        return True, [image_record(path, path.parent)]
    if is_audio_path(path) and path.is_file():
        return True, [audio_record(path, path.parent)]
    if path.suffix.lower() in DOCUMENT_SUFFIXES and path.is_file():
        return False, read_document(path, path.parent)
    return False, list(
        read_records(path, text_fields=text_fields, id_field=id_field, vector_field=vector_field)
    )


def _read_all(
    sources: list[_Source],
    text_fields: Sequence[str],
    id_field: str | None,
    vector_field: str | None,
    skip_invalid: bool,
    on_progress: ProgressCallback | None,
) -> list[Record]:
    records: dict[str, Record] = {}
    for source in sources:
        stage = f"Reading {source.path}"
        report(on_progress, stage, 0, None)
        skipped, items = read_source(source.path, text_fields, id_field, vector_field)
        for count, item in enumerate(items, start=1):
            if count % _REPORT_EVERY == 0:
                report(on_progress, stage, count, None)
            if isinstance(item, Record) and item.id in records:
                if records[item.id].content == item.content:
                    source.ids.append(item.id)
                    continue  # the same text twice, with a derived id: one item
                item = Rejection(str(source.path), 0, f"repeats id '{item.id}' from another input")
            if isinstance(item, Rejection):
                if not (skipped or skip_invalid):
                    raise InvalidInput(
                        f"{item}. Nothing was written. Fix the row, or pass --skip-invalid "
                        "to index the other rows."
                    )
                source.rejected.append(item)
                continue
            records[item.id] = _with_source(item, source)
            source.ids.append(item.id)
    return list(records.values())


def _with_source(record: Record, source: _Source) -> Record:
    if SOURCE_KEY in record.metadata:
        raise InvalidInput(
            f"{source.path} has a field '{SOURCE_KEY}', which embedspace reserves for the file "
            "an item was read from (see 'index --sync'). Rename that field; nothing was written."
        )
    return dataclasses.replace(record, metadata={**record.metadata, SOURCE_KEY: source.key})


def _nothing_to_index(sources: list[_Source]) -> str:
    folders = [str(s.path) for s in sources if s.path.is_dir()]
    if folders:
        return (
            f"No items to index in {', '.join(folders)}: no readable images (.jpg, .jpeg, .png, "
            ".webp, .gif, .bmp), sounds (.wav, .flac, .ogg, .opus, .mp3) or text files (.txt, "
            ".md) in it. Name table files (CSV, JSONL, JSON, Parquet) one by one."
        )
    names = ", ".join(str(s.path) for s in sources)
    return f"No items to index in {names}: the files hold no rows with text."


def _check_syncable(sources: list[_Source]) -> None:
    """Refuse to sync a table with skipped rows: an item whose row failed to read would
    look as if it had been deleted from the file."""
    for source in sources:
        media = is_image_path(source.path) or is_audio_path(source.path)
        if source.rejected and not source.path.is_dir() and not media:
            raise InvalidInput(
                f"Cannot --sync {source.path}: {len(source.rejected)} of its rows were skipped, "
                "and their items would be removed as if deleted. Fix those rows or drop "
                "--sync; nothing was written."
            )


def _remove_gone(space: Space, sources: list[_Source], on_progress: ProgressCallback | None) -> int:
    """Delete the items recorded as read from ``sources`` that this run did not read."""
    removed = 0
    for number, source in enumerate(sources):
        report(on_progress, f"Removing what is gone from {space.name}", number, len(sources))
        kept = set(source.ids) | _unreadable_ids(source)
        stored = space.snapshot({SOURCE_KEY: source.key})
        gone = [
            item_id
            for item_id, metadata in zip(stored.ids, stored.metadata, strict=True)
            if item_id not in kept and metadata.get(DOCUMENT_KEY) not in kept
        ]
        if gone:
            removed += space.delete(gone)
    return removed


def _unreadable_ids(source: _Source) -> set[str]:
    """Ids of files in a folder that were there but could not be read this time: kept."""
    if not source.path.is_dir():
        return set()
    ids = set()
    for rejection in source.rejected:
        try:
            ids.add(Path(rejection.path).relative_to(source.path).as_posix())
        except ValueError:
            continue
    return ids


def _fit_encoder(
    records: list[Record], folders: set[str], encoder: Encoder
) -> tuple[list[Record], list[Rejection]]:
    """Leave out the files found in folders that ``encoder`` cannot embed (the README.txt
    in a folder of photos indexed with an image-only encoder), and sounds too short for it
    (a song fingerprint needs half a second), as rejections."""
    kept, unfit = [], []
    shortest = float(getattr(encoder, "min_seconds", 0.0))
    for record in records:
        where = str(Path(record.metadata[SOURCE_KEY]) / record.id)
        seconds = record.metadata.get("duration_s") if record.modality == "audio" else None
        if isinstance(seconds, int | float) and seconds < shortest:
            unfit.append(
                Rejection(
                    where,
                    0,
                    f"is {seconds:g} s long, and encoder '{encoder.name}' needs at least "
                    f"{shortest:g} s",
                )
            )
        elif record.modality in encoder.modalities or record.metadata[SOURCE_KEY] not in folders:
            kept.append(record)
        else:
            unfit.append(
                Rejection(
                    where,
                    0,
                    f"is a {record.modality} file, and encoder '{encoder.name}' embeds "
                    f"{' and '.join(sorted(encoder.modalities))} only",
                )
            )
    return kept, unfit


def _open_or_create(
    space: str | Path,
    modalities: set[str],
    required: set[str],
    encoder: str | None,
    metric: str | None,
    on_progress: ProgressCallback | None,
    *,
    check: Callable[[int, str, str], None],
    keyword_index: str | None = None,
    ann: str | None = None,
) -> Space:
    """The space to write to; its HNSW builds report to ``on_progress``. A new space's
    default encoder suits ``modalities``; the encoder must embed the ``required`` ones
    (those of named files: files found in folders may be left out instead).
    ``check(dim, metric, encoder)`` raises if the records cannot go into a space of that
    size, metric and encoder: it runs before a space is created, and on the space opened."""
    # a space in PostgreSQL (a bare name while $EMBEDSPACE_STORE is set) has no folder
    path: str | Path = space if postgres_location(space, None) else resolve(space)
    if Space.exists(path):
        opened = Space.open(path, encoder=encoder, on_progress=on_progress)
        if metric is not None and metric != opened.stamp.metric:
            opened.close()
            raise InvalidInput(
                f"Space '{space}' uses the {opened.stamp.metric} metric; --metric only applies "
                "when a space is created. Drop --metric, or index into a new space."
            )
        with _closed_on_error(opened):
            kept = opened.info()["keyword_index"]
            if keyword_index is not None and keyword_index != kept and kept in KEYWORD_INDEXES:
                raise InvalidInput(
                    f"Space '{space}' has a {kept} keyword index; --keyword-index only "
                    "applies when a space is created. Drop it, or index into a new space."
                )
            if ann is not None and ann != opened.stamp.ann:
                raise InvalidInput(
                    f"Space '{space}' has a {opened.info()['ann']} index; --ann only applies "
                    "when a space is created. Drop it, or index into a new space."
                )
            check_modalities(opened.encoder, _needed(opened.encoder, modalities, required))
            check(opened.stamp.dim, opened.stamp.metric, opened.stamp.encoder)
            refuse_other_table(opened)  # also when nothing would be embedded (a refit)
        return opened
    default = default_encoder(modalities)
    chosen = get_encoder(encoder or default)
    check_modalities(chosen, _needed(chosen, modalities, required))  # before creating anything
    check(chosen.dim, metric or "cosine", chosen.name)
    chosen.check_available()
    if isinstance(path, Path) and path.parent == config.home():
        path.parent.mkdir(parents=True, exist_ok=True)  # the home folder is ours to make
    elif isinstance(path, Path):
        check_new_folder(path, "a space")
    try:
        return Space.create(
            path,
            encoder=chosen,
            metric=metric or "cosine",
            on_progress=on_progress,
            keyword_index=keyword_index or "porter",
            ann=ann or "hnsw",
        )
    except SpaceExists:  # another process created it meanwhile: write into it
        if not Space.exists(path):
            raise
        return _open_or_create(
            space,
            modalities,
            required,
            encoder,
            metric,
            on_progress,
            check=check,
            keyword_index=keyword_index,
            ann=ann,
        )
    except OSError as error:
        raise write_error(Path(path), error) from None


def default_encoder(modalities: set[str]) -> str:
    """The encoder a new space gets for items of these modalities: landmark fingerprints
    for sounds only ("what song is this"), the label bridge for images, MiniLM for texts
    (a stray sound among photos or notes is then left out, and reported)."""
    if modalities == {"audio"}:
        return "landmarks"
    return "imagenet-bridge" if "image" in modalities else "minilm-l6"


def _check_all(records: list[Record], dim: int, metric: str, encoder: str) -> None:
    """Every record fits a space of ``dim`` and ``metric`` (ids, texts, metadata, and the
    size of every given vector), checked before anything is written."""
    try:
        check_records(records, dim, metric, encoder)
    except (InvalidInput, DimensionMismatch) as error:
        raise type(error)(f"{error} Nothing was written.") from None


@contextlib.contextmanager
def _closed_on_error(space: Space) -> Iterator[None]:
    """Close ``space`` if the block raises."""
    try:
        yield
    except BaseException:
        space.close()
        raise


def _needed(encoder: Encoder, modalities: set[str], required: set[str]) -> set[str]:
    """What ``encoder`` must embed: the ``required`` modalities, or all of them when it can
    embed none (a folder of photos given to a text encoder is a mistake, not a skip)."""
    return required if modalities & set(encoder.modalities) else modalities


def check_modalities(encoder: Encoder, modalities: set[str]) -> None:
    """Raise ``InvalidInput`` when ``encoder`` cannot embed one of ``modalities``."""
    missing = modalities - set(encoder.modalities)
    if "audio" in missing:
        raise InvalidInput(
            f"Encoder '{encoder.name}' does not embed sound; nothing was written. Index sounds "
            "into a space of an audio encoder: landmarks (song fingerprints, the default), "
            "aisfx (sound types), or a CLAP directory (sound and text)."
        )
    if "image" in missing:
        raise InvalidInput(
            f"Encoder '{encoder.name}' embeds text, not images; nothing was written. Index "
            "images with an image encoder: imagenet-bridge (also searchable by text), "
            "efficientnet-lite0, an alignment model or a CLIP directory."
        )
    if "text" in missing:
        raise InvalidInput(
            f"Encoder '{encoder.name}' embeds images, not text; nothing was written. Put "
            "text in a text space, or use a text-and-image encoder (imagenet-bridge, CLIP)."
        )
