"""embedspace: embeddings as a multitool — embed, store, search, offline and fast.

>>> import embedspace as es
>>> space = es.Space.create("news", encoder="minilm-l6")   # doctest: +SKIP
>>> space.add(["Are Burritos the Next Taco?"])              # doctest: +SKIP
>>> space.search("food")[0].id                              # doctest: +SKIP
"""

from embedspace import encoders
from embedspace.encoders import Encoder, HashingEncoder
from embedspace.errors import (
    CorruptSpace,
    DimensionMismatch,
    EmbedspaceError,
    EncoderMismatch,
    InvalidInput,
    MissingExtra,
    ModelNotAvailable,
    SpaceExists,
    SpaceNotFound,
    UnknownEncoder,
)
from embedspace.io import Record, Rejection, read_image_records, read_records
from embedspace.ops import (
    Classification,
    classify_images,
    classify_space,
    embed,
    similarity,
    similarity_matrix,
)
from embedspace.store import Item, Match, Space, WriteResult, delete_space, list_spaces
from embedspace.train.align import AlignReport, AlignSettings, train_align

__version__ = "0.1.0"

__all__ = [
    "AlignReport",
    "AlignSettings",
    "Classification",
    "CorruptSpace",
    "DimensionMismatch",
    "EmbedspaceError",
    "Encoder",
    "EncoderMismatch",
    "HashingEncoder",
    "InvalidInput",
    "Item",
    "Match",
    "MissingExtra",
    "ModelNotAvailable",
    "Record",
    "Rejection",
    "Space",
    "SpaceExists",
    "SpaceNotFound",
    "UnknownEncoder",
    "WriteResult",
    "__version__",
    "classify_images",
    "classify_space",
    "delete_space",
    "embed",
    "encoders",
    "list_spaces",
    "read_image_records",
    "read_records",
    "similarity",
    "similarity_matrix",
    "train_align",
]
