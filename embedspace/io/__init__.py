"""Ground floor: turn files into Records.

The names below resolve on first use (``embedspace.lazy``): reading audio does not load the
document readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedspace.lazy import lazy_dir, lazy_names

if TYPE_CHECKING:
    from embedspace.io.folder_items import image_records, read_image_records
    from embedspace.io.images import load_image
    from embedspace.io.readers import read_records, read_rows
    from embedspace.io.records import (
        Record,
        Rejection,
        content_hash,
        derive_id,
        record_hash,
    )

_WHERE = {
    "Record": "embedspace.io.records",
    "Rejection": "embedspace.io.records",
    "content_hash": "embedspace.io.records",
    "derive_id": "embedspace.io.records",
    "record_hash": "embedspace.io.records",
    "image_records": "embedspace.io.folder_items",
    "read_image_records": "embedspace.io.folder_items",
    "load_image": "embedspace.io.images",
    "read_records": "embedspace.io.readers",
    "read_rows": "embedspace.io.readers",
}
__getattr__ = lazy_names(__name__, _WHERE)
__dir__ = lazy_dir(__name__, _WHERE)

__all__ = [
    "Record",
    "Rejection",
    "image_records",
    "content_hash",
    "derive_id",
    "load_image",
    "read_image_records",
    "read_records",
    "read_rows",
    "record_hash",
]
