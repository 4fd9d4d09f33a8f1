"""Ground floor: turn files into Records."""

from embedspace.io.images import load_image, read_image_records
from embedspace.io.readers import Rejection, read_records, read_rows
from embedspace.io.records import Record, content_hash, derive_id, record_hash

__all__ = [
    "Record",
    "Rejection",
    "content_hash",
    "derive_id",
    "load_image",
    "read_image_records",
    "read_records",
    "read_rows",
    "record_hash",
]
