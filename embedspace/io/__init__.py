"""Ground floor: turn files into Records."""

from embedspace.io.folder_items import image_records, read_image_records
from embedspace.io.images import load_image
from embedspace.io.readers import read_records, read_rows
from embedspace.io.records import Record, Rejection, content_hash, derive_id, record_hash

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
