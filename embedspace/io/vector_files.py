"""Writing vectors to files: ``.npy`` (the float32 matrix in input order), ``.parquet``
and ``.jsonl`` (id, text and vector per row). Files are written atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedspace.io.outputs import check_output_file, write_file
from embedspace.io.records import Record

#: The suffixes ``write_vectors`` can write.
VECTOR_FORMATS = (".npy", ".parquet", ".jsonl")


def check_vector_file(path: Path) -> None:
    """Fail early (before any work) for an unsupported suffix or a place that cannot be
    written (the output policy of ``embedspace.io.outputs``)."""
    check_output_file(path, VECTOR_FORMATS)


def write_vectors(path: Path, records: Sequence[Record], vectors: np.ndarray) -> None:
    """Write ``vectors`` (float32 ``(len(records), dim)``) of ``records`` to ``path``,
    in the format its suffix names, atomically (never half a file)."""
    write_file(path, lambda temp: _write(temp, records, vectors))


def _write(temp: Path, records: Sequence[Record], vectors: np.ndarray) -> None:
    """The vectors (.npy) or ids, texts and vectors (.parquet, .jsonl) into ``temp``."""
    suffix = temp.suffix.lower()
    if suffix == ".npy":
        with open(temp, "wb") as out:
            np.save(out, vectors)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "id": [r.id for r in records],
                "text": [r.content for r in records],
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.reshape(-1)), vectors.shape[1]
                ),
            }
        )
        pq.write_table(table, temp)
    else:
        with open(temp, "w", encoding="utf-8") as out:
            for record, vector in zip(records, vectors, strict=True):
                row = {"id": record.id, "text": record.content, "vector": vector.tolist()}
                out.write(json.dumps(row) + "\n")
