"""Answers with many vectors, serialised once by orjson (numpy arrays as they are).

FastAPI turns a returned dict into JSON by walking it (``jsonable_encoder``) and then
``json.dumps``: for ``/v1/embeddings`` that visits every float of every vector in Python.
orjson writes numpy ``float32`` arrays directly, each number in its shortest form (9
significant digits instead of float64's 17), so answers are smaller and cheaper to make
and to parse.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class VectorsResponse(Response):
    """A JSON response whose content may hold numpy arrays."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """``content`` as JSON bytes (numpy arrays become lists of numbers)."""
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
