"""Documents longer than the encoder reads become passages before they are indexed.

``split_documents`` runs on the Records ``index`` read: a text longer than the encoder's
window (minilm-l6: 256 tokens) is replaced by its passages (``io/passages.py``: sentence
ends, token-counted by the encoder's tokenizer, with overlap); shorter texts, images and
items with their own vectors pass as they are. ``write_batches`` then keeps every
document's passages in one batch (one transaction), with the document ids it replaces, so
re-indexing a changed document swaps all its passages at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from embedspace.encoders import Encoder
from embedspace.errors import InvalidInput
from embedspace.io.passages import DOCUMENT_KEY, PASSAGE_KEY, passage_records, split_passages
from embedspace.io.records import Record

#: Tokens a passage repeats from the one before, unless told otherwise.
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class Chunked:
    """Records ready to write, with what splitting did."""

    records: list[Record]
    documents: list[str]  # ids of the text documents read (their old passages are replaced)
    split: int  # documents that became passages
    passages: int  # passages they became


def chunk_size(encoder: Encoder, chunk_tokens: int | None) -> int | None:
    """The passage size to use: ``chunk_tokens`` if given (0: do not split), else the
    encoder's window; ``None`` when nothing is split."""
    if chunk_tokens is None:
        return encoder.max_tokens
    if chunk_tokens == 0:
        return None
    if chunk_tokens < 8:
        raise InvalidInput(f"--chunk-tokens must be 0 (off) or at least 8, not {chunk_tokens}.")
    window = encoder.max_tokens
    if window is not None and chunk_tokens > window:
        raise InvalidInput(
            f"--chunk-tokens {chunk_tokens} is more than encoder '{encoder.name}' reads "
            f"({window} tokens): passages would be cut. Use at most {window}."
        )
    return chunk_tokens


def split_documents(
    records: list[Record],
    encoder: Encoder,
    chunk_tokens: int | None = None,
    overlap: int | None = None,
) -> Chunked:
    """``records`` with every text longer than the passage size replaced by its passages
    (``overlap`` tokens repeated; default ``DEFAULT_OVERLAP``, at most an eighth of a
    passage)."""
    size = chunk_size(encoder, chunk_tokens)
    texts = [r for r in records if r.modality == "text" and r.vector is None]
    for record in texts:
        reserved = {DOCUMENT_KEY, PASSAGE_KEY} & set(record.metadata)
        if reserved:
            raise InvalidInput(
                f"Item '{record.id}' has a field '{sorted(reserved)[0]}', which embedspace "
                "reserves for the passages of long documents. Rename that field; nothing was "
                "written."
            )
    documents = [r.id for r in texts]  # replaced even when not split: old passages go
    if size is None or not texts:
        return Chunked(records, documents, 0, 0)
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, size // 8)
    if not 0 <= overlap < size // 2:
        raise InvalidInput(
            f"--chunk-overlap must be between 0 and {size // 2 - 1} for passages of {size} "
            f"tokens, not {overlap}."
        )
    lengths = dict(
        zip((r.id for r in texts), encoder.token_counts([r.content for r in texts]), strict=True)
    )
    out: list[Record] = []
    split = passages = 0
    for record in records:
        if record.id not in lengths or lengths[record.id] <= size:
            out.append(record)
            continue
        parts = split_passages(record.content, encoder.token_counts, size, overlap)
        out += passage_records(record, parts)
        split += 1
        passages += len(parts)
    return Chunked(out, documents, split, passages)


def write_batches(chunked: Chunked, batch: int) -> Iterator[tuple[list[Record], list[str]]]:
    """Batches of about ``batch`` records, a document's passages never split between two,
    each with the document ids whose other items the batch replaces."""
    documents = set(chunked.documents)
    current: list[Record] = []
    replacing: list[str] = []
    for record in chunked.records:
        document = record.metadata.get(DOCUMENT_KEY, record.id)
        starts_document = document != (current[-1].metadata.get(DOCUMENT_KEY) if current else None)
        if len(current) >= batch and starts_document:
            yield current, replacing
            current, replacing = [], []
        current.append(record)
        if document in documents and (not replacing or replacing[-1] != document):
            replacing.append(document)
    if current:
        yield current, replacing
