"""Senses: encoders turn items into float32 vectors, and a registry finds them by name."""

from embedspace.encoders.base import METRICS, Encoder
from embedspace.encoders.hashing import HashingEncoder
from embedspace.encoders.registry import (
    DEFAULT_ENCODER,
    ENTRY_POINT_GROUP,
    EncoderEntry,
    entries,
    from_directory,
    get,
    register,
    unregister,
)

__all__ = [
    "DEFAULT_ENCODER",
    "ENTRY_POINT_GROUP",
    "METRICS",
    "Encoder",
    "EncoderEntry",
    "HashingEncoder",
    "entries",
    "from_directory",
    "get",
    "register",
    "unregister",
]
