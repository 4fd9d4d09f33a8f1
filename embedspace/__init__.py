"""embedspace: embeddings as a multitool — embed, store, search, offline and fast.

>>> import embedspace as es
>>> space = es.Space.create("news", encoder="minilm-l6")   # doctest: +SKIP
>>> space.add(["Are Burritos the Next Taco?"])              # doctest: +SKIP
>>> space.search("food")[0].id                              # doctest: +SKIP
"""

from typing import Any

from embedspace import encoders
from embedspace.encoders import Encoder, HashingEncoder
from embedspace.encoders.word_vectors import Neighbour, UnknownWord, WordVectors
from embedspace.errors import (
    CorruptSpace,
    DimensionMismatch,
    EmbedspaceError,
    EncoderMismatch,
    InvalidInput,
    MissingExtra,
    ModelNotAvailable,
    ReadOnlySpace,
    SpaceClosed,
    SpaceExists,
    SpaceNotFound,
    StorageError,
    UnknownEncoder,
)
from embedspace.io import Record, Rejection, read_image_records, read_records
from embedspace.io.audio import Audio
from embedspace.io.folder_items import read_audio_records
from embedspace.io.interactions import Interactions, read_features, read_interactions
from embedspace.ops import (
    Classification,
    classify_images,
    classify_space,
    embed,
    similarity,
    similarity_matrix,
)
from embedspace.ops.classify import few_shot
from embedspace.ops.cluster import Clustering, cluster
from embedspace.ops.dedup import DuplicateGroup, calibrate, duplicate_groups
from embedspace.ops.drift import DriftResult, drift_test
from embedspace.ops.outliers import OutlierScore, outliers
from embedspace.ops.qa import Answer, ask
from embedspace.ops.recommend import Recommender, train_two_tower
from embedspace.ops.record_match import RecordPair, dedup_records, match_records
from embedspace.ops.sounds import SoundResults, search_by_sound
from embedspace.ops.sql import SqlSession, sql
from embedspace.ops.typos import FixResult, Speller
from embedspace.ops.word_eval import analogy_accuracy, similarity_correlation
from embedspace.store import Item, Match, Space, WriteResult, delete_space, list_spaces
from embedspace.store.fingerprints import SongMatch
from embedspace.train.align import AlignReport, AlignSettings, train_align
from embedspace.train.two_tower import TwoTowerReport, TwoTowerSettings
from embedspace.train.word2vec import Word2VecSettings, train_word2vec
from embedspace.version import __version__

TwoTowerModel = Recommender  # the name since 0.1: a served two-tower model


def __getattr__(name: str) -> Any:
    # EmbeddingTransformer subclasses scikit-learn's base classes, and importing
    # scikit-learn takes ~0.8 s: it is loaded on first use, not with every CLI command.
    if name == "EmbeddingTransformer":
        from embedspace.ops.features import EmbeddingTransformer

        return EmbeddingTransformer
    raise AttributeError(f"module 'embedspace' has no attribute '{name}'")


__all__ = [
    "AlignReport",
    "AlignSettings",
    "Answer",
    "Audio",
    "Classification",
    "Clustering",
    "CorruptSpace",
    "DimensionMismatch",
    "DriftResult",
    "DuplicateGroup",
    "EmbeddingTransformer",
    "EmbedspaceError",
    "Encoder",
    "EncoderMismatch",
    "FixResult",
    "HashingEncoder",
    "Interactions",
    "InvalidInput",
    "Item",
    "Match",
    "MissingExtra",
    "ModelNotAvailable",
    "ReadOnlySpace",
    "Neighbour",
    "OutlierScore",
    "Record",
    "RecordPair",
    "Rejection",
    "SongMatch",
    "SoundResults",
    "Space",
    "SpaceClosed",
    "SpaceExists",
    "SpaceNotFound",
    "StorageError",
    "Speller",
    "Recommender",
    "SqlSession",
    "TwoTowerModel",
    "TwoTowerReport",
    "TwoTowerSettings",
    "UnknownEncoder",
    "UnknownWord",
    "Word2VecSettings",
    "WordVectors",
    "WriteResult",
    "analogy_accuracy",
    "ask",
    "calibrate",
    "classify_images",
    "classify_space",
    "cluster",
    "dedup_records",
    "delete_space",
    "drift_test",
    "duplicate_groups",
    "embed",
    "encoders",
    "few_shot",
    "list_spaces",
    "match_records",
    "outliers",
    "read_audio_records",
    "read_features",
    "read_image_records",
    "read_interactions",
    "read_records",
    "search_by_sound",
    "similarity",
    "similarity_correlation",
    "similarity_matrix",
    "sql",
    "train_align",
    "train_two_tower",
    "train_word2vec",
    "__version__",
]
