"""Answers serialised once by orjson: embeddings (numpy arrays as they are) and search
matches, the two answers a busy server sends most.

FastAPI turns a returned dict into JSON by walking it (``jsonable_encoder``) and then
``json.dumps``: for ``/v1/embeddings`` that visits every float of every vector in Python,
and for a search it costs the event loop (which every request shares) ~0.2 ms per answer.
orjson writes numpy ``float32`` arrays directly, each number in its shortest form (9
significant digits instead of float64's 17), so answers are smaller and cheaper to make
and to parse.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import Response


class VectorsResponse(Response):
    """A JSON response whose content may hold numpy arrays."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """``content`` as JSON bytes (numpy arrays become lists of numbers)."""
        try:
            return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError:  # e.g. an integer past 64 bits in stored metadata
            return json.dumps(content, default=_listed).encode()


def _listed(value: Any) -> Any:
    """What ``json`` cannot write itself: numpy arrays and numbers, as Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")
