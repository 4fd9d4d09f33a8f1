"""embedspace: embeddings as a multitool — embed, store, search, offline and fast.

>>> import embedspace as es
>>> space = es.Space.create("news", encoder="minilm-l6")   # doctest: +SKIP
>>> space.add(["Are Burritos the Next Taco?"])              # doctest: +SKIP
>>> space.search("food")[0].id                              # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from embedspace.ops import Classification, classify_images, classify_space
    from embedspace.ops.classify import few_shot
    from embedspace.ops.cluster import Clustering, cluster
    from embedspace.ops.dedup import DuplicateGroup, calibrate, duplicate_groups
    from embedspace.ops.drift import DriftResult, drift_test
    from embedspace.ops.features import EmbeddingTransformer
    from embedspace.ops.outliers import OutlierScore, outliers
    from embedspace.ops.qa import Answer, ask
    from embedspace.ops.recommend import Recommender, train_two_tower
    from embedspace.ops.record_match import RecordPair, dedup_records, match_records
    from embedspace.ops.search_many import search_many
    from embedspace.ops.similarity import embed, similarity, similarity_matrix
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

    TwoTowerModel = Recommender

#: Where each public name lives. Importing ``embedspace`` loads none of them: each is
#: imported on first use (PEP 562), so ``import embedspace`` and ``embedspace --help`` stay
#: fast (numpy, the stores and the encoders take ~0.25 s to import; scikit-learn, behind
#: EmbeddingTransformer, ~0.8 s).
_WHERE: dict[str, str] = {
    "AlignReport": "embedspace.train.align",
    "AlignSettings": "embedspace.train.align",
    "Answer": "embedspace.ops.qa",
    "Audio": "embedspace.io.audio",
    "Classification": "embedspace.ops",
    "Clustering": "embedspace.ops.cluster",
    "CorruptSpace": "embedspace.errors",
    "DimensionMismatch": "embedspace.errors",
    "DriftResult": "embedspace.ops.drift",
    "DuplicateGroup": "embedspace.ops.dedup",
    "EmbedspaceError": "embedspace.errors",
    "Encoder": "embedspace.encoders",
    "EncoderMismatch": "embedspace.errors",
    "FixResult": "embedspace.ops.typos",
    "HashingEncoder": "embedspace.encoders",
    "Interactions": "embedspace.io.interactions",
    "InvalidInput": "embedspace.errors",
    "Item": "embedspace.store",
    "Match": "embedspace.store",
    "MissingExtra": "embedspace.errors",
    "ModelNotAvailable": "embedspace.errors",
    "Neighbour": "embedspace.encoders.word_vectors",
    "OutlierScore": "embedspace.ops.outliers",
    "ReadOnlySpace": "embedspace.errors",
    "Recommender": "embedspace.ops.recommend",
    "Record": "embedspace.io",
    "RecordPair": "embedspace.ops.record_match",
    "Rejection": "embedspace.io",
    "SongMatch": "embedspace.store.fingerprints",
    "SoundResults": "embedspace.ops.sounds",
    "Space": "embedspace.store",
    "SpaceClosed": "embedspace.errors",
    "SpaceExists": "embedspace.errors",
    "SpaceNotFound": "embedspace.errors",
    "Speller": "embedspace.ops.typos",
    "SqlSession": "embedspace.ops.sql",
    "StorageError": "embedspace.errors",
    "TwoTowerReport": "embedspace.train.two_tower",
    "TwoTowerSettings": "embedspace.train.two_tower",
    "UnknownEncoder": "embedspace.errors",
    "UnknownWord": "embedspace.encoders.word_vectors",
    "Word2VecSettings": "embedspace.train.word2vec",
    "WordVectors": "embedspace.encoders.word_vectors",
    "WriteResult": "embedspace.store",
    "__version__": "embedspace.version",
    "analogy_accuracy": "embedspace.ops.word_eval",
    "ask": "embedspace.ops.qa",
    "calibrate": "embedspace.ops.dedup",
    "classify_images": "embedspace.ops",
    "classify_space": "embedspace.ops",
    "cluster": "embedspace.ops.cluster",
    "dedup_records": "embedspace.ops.record_match",
    "delete_space": "embedspace.store",
    "drift_test": "embedspace.ops.drift",
    "duplicate_groups": "embedspace.ops.dedup",
    "embed": "embedspace.ops.similarity",
    "encoders": "embedspace.encoders",
    "few_shot": "embedspace.ops.classify",
    "list_spaces": "embedspace.store",
    "match_records": "embedspace.ops.record_match",
    "outliers": "embedspace.ops.outliers",
    "read_audio_records": "embedspace.io.folder_items",
    "read_features": "embedspace.io.interactions",
    "read_image_records": "embedspace.io",
    "read_interactions": "embedspace.io.interactions",
    "read_records": "embedspace.io",
    "search_by_sound": "embedspace.ops.sounds",
    "search_many": "embedspace.ops.search_many",
    "similarity": "embedspace.ops.similarity",
    "similarity_correlation": "embedspace.ops.word_eval",
    "similarity_matrix": "embedspace.ops.similarity",
    "sql": "embedspace.ops.sql",
    "train_align": "embedspace.train.align",
    "train_two_tower": "embedspace.ops.recommend",
    "train_word2vec": "embedspace.train.word2vec",
    "EmbeddingTransformer": "embedspace.ops.features",
    "TwoTowerModel": "embedspace.ops.recommend",
}
#: Subpackages reachable as attributes (``es.ops``), as they were when this module imported
#: everything eagerly.
_SUBPACKAGES = frozenset(
    {"config", "errors", "io", "ops", "progress", "render", "store", "train", "version"}
)
#: Names that differ from the attribute they come from.
_RENAMED = {"TwoTowerModel": "Recommender"}  # the name since 0.1: a served two-tower model


def __getattr__(name: str) -> Any:
    value: Any
    module = _WHERE.get(name)
    if module is None and name in _SUBPACKAGES:  # es.ops, es.store, ... as eager imports made
        value = importlib.import_module(f"embedspace.{name}")
        globals()[name] = value
        return value
    if module is None:
        raise AttributeError(f"module 'embedspace' has no attribute '{name}'")
    if name == "encoders":
        value = importlib.import_module(module)
    else:
        value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value  # later uses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "search_many",
    "similarity",
    "similarity_correlation",
    "similarity_matrix",
    "sql",
    "train_align",
    "train_two_tower",
    "train_word2vec",
    "__version__",
]
