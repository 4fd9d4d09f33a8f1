"""``POST /v1/embeddings`` and ``GET /v1/models``, as OpenAI's API has them, so the
official client, LangChain and llama-index can use embedspace as their embedding server."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from embedspace.errors import InvalidInput, TooLarge
from embedspace.server.auth import reader
from embedspace.server.responses import VectorsResponse
from embedspace.server.state import ServerState


class EmbeddingRequest(BaseModel):
    """OpenAI's request body (``input`` is checked by hand for clearer errors)."""

    input: Any
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


router = APIRouter(tags=["OpenAI-compatible embeddings"], dependencies=[Depends(reader)])


def _texts(value: Any, limit: int) -> list[str]:
    """``input`` as a list of texts; token-id arrays and other shapes get a clear 400."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInput("input must be a string or a non-empty list of strings.")
    if all(isinstance(v, int) for v in value) or all(isinstance(v, list) for v in value):
        raise InvalidInput(
            "input holds token ids; this server embeds text. Send strings instead (LangChain: "
            "OpenAIEmbeddings(..., check_embedding_ctx_length=False); llama-index: the "
            "OpenAI-like embedding sends strings)."
        )
    if len(value) > limit:
        raise TooLarge(f"input has {len(value):,} texts; the limit is {limit:,} per request.")
    for position, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"input[{position}] must be a non-empty string.")
    return list(value)


def _encoded(vector: np.ndarray, encoding_format: str) -> np.ndarray | str:
    if encoding_format == "base64":
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode()
    return np.ascontiguousarray(vector, dtype=np.float32)


@router.post("/v1/embeddings", response_class=VectorsResponse)
async def embeddings(body: EmbeddingRequest, request: Request) -> VectorsResponse:
    """Embed ``input`` with ``model`` (default: the server's default model)."""
    state: ServerState = request.app.state.embedspace
    model = body.model or state.settings.default_model
    texts = _texts(body.input, state.settings.max_batch)
    encoder = state.encoder(model)
    if body.dimensions is not None and body.dimensions != encoder.dim:
        raise InvalidInput(
            f"Model '{model}' makes {encoder.dim}-dimensional vectors and cannot shorten them; "
            f"leave out dimensions (or set it to {encoder.dim})."
        )
    vectors, tokens = await asyncio.gather(
        state.embed(model, texts), asyncio.to_thread(encoder.count_tokens, texts)
    )
    return VectorsResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
                for i, v in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


@router.get("/v1/models")
def models(request: Request) -> dict[str, Any]:
    """The models this server embeds with."""
    state: ServerState = request.app.state.embedspace
    started = int(state.started)
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": started, "owned_by": "embedspace"}
            for name in state.settings.models
        ],
    }
