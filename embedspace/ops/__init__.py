"""Applications: plain functions over vectors and Spaces.

The names below resolve on first use (``embedspace.lazy``): one application's module does
not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedspace.lazy import lazy_dir, lazy_names

# Eager: the module ``embedspace.ops.similarity`` shares its name with the function, and
# importing the module would otherwise bind the package's ``similarity`` to the module.
from embedspace.ops.similarity import embed, similarity, similarity_matrix

if TYPE_CHECKING:
    from embedspace.ops.classify import (
        Classification,
        classify_images,
        classify_space,
        parse_labels,
        zero_shot,
    )

_WHERE = {
    "Classification": "embedspace.ops.classify",
    "classify_images": "embedspace.ops.classify",
    "classify_space": "embedspace.ops.classify",
    "parse_labels": "embedspace.ops.classify",
    "zero_shot": "embedspace.ops.classify",
}
__getattr__ = lazy_names(__name__, _WHERE)
__dir__ = lazy_dir(__name__, _WHERE)

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
