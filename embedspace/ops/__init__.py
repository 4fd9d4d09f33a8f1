"""Applications: plain functions over vectors and Spaces."""

from embedspace.ops.classify import (
    Classification,
    classify_images,
    classify_space,
    parse_labels,
    zero_shot,
)
from embedspace.ops.similarity import embed, similarity, similarity_matrix

__all__ = [
    "Classification",
    "classify_images",
    "classify_space",
    "embed",
    "parse_labels",
    "similarity",
    "similarity_matrix",
    "zero_shot",
]
