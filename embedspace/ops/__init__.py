"""Applications: plain functions over vectors and Spaces."""

from embedspace.ops.similarity import embed, similarity, similarity_matrix

__all__ = ["embed", "similarity", "similarity_matrix"]
