"""Real embedding clients against a live ``uvicorn`` on 127.0.0.1: LangChain's
``OpenAIEmbeddings`` and llama-index's OpenAI-like embedding get minilm-l6's vectors, the
same as the in-process encoder (what ``embedspace embed`` prints)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import has, live_server, needs_minilm

import embedspace as es

pytestmark = [
    pytest.mark.slow,
    needs_minilm,
    pytest.mark.skipif(not has("fastapi"), reason="needs embedspace[serve]"),
]

TEXTS = ["The rover landed on Mars.", "Stocks fell sharply.", "A cat sat on the mat."]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A live server with the shipped model, for the whole module."""
    from embedspace.server import ServerSettings

    with live_server(lambda port: ServerSettings(port=port)) as url:
        yield f"{url}/v1"


def _same_as_encoder(vectors: Any) -> None:
    expected = es.encoders.get("minilm-l6").encode(TEXTS)
    got = np.asarray(vectors, dtype=np.float32)
    assert got.shape == expected.shape
    cosine = np.sum(got * expected, axis=1) / np.linalg.norm(got, axis=1)
    assert cosine.min() > 0.999  # batched with other texts: int8 may move a little


def _offline_tiktoken() -> Any:
    """A byte-level tiktoken encoding built here: LangChain's default tokenizer
    (cl100k_base) is a download, and what matters is that token ids get sent."""
    import tiktoken

    return tiktoken.Encoding(
        name="bytes",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )


def test_langchain_openai_embeddings(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    import openai
    import tiktoken
    from langchain_openai import OpenAIEmbeddings
    from pydantic import SecretStr

    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda name: _offline_tiktoken())
    by_default = OpenAIEmbeddings(model="minilm-l6", base_url=base_url, api_key=SecretStr("unused"))
    with pytest.raises(openai.BadRequestError) as refused:
        by_default.embed_documents(TEXTS)  # LangChain sends token ids by default
    assert refused.value.status_code == 400
    assert "check_embedding_ctx_length=False" in str(refused.value)

    embeddings = OpenAIEmbeddings(
        model="minilm-l6",
        base_url=base_url,
        api_key=SecretStr("unused"),
        check_embedding_ctx_length=False,
    )
    _same_as_encoder(embeddings.embed_documents(TEXTS))
    _same_as_encoder([embeddings.embed_query(text) for text in TEXTS])


def test_llama_index_openai_like_embedding(base_url: str) -> None:
    pytest.importorskip("llama_index.embeddings.openai_like")
    from llama_index.embeddings.openai_like import (  # type: ignore[import-untyped]
        OpenAILikeEmbedding,
    )

    embedding = OpenAILikeEmbedding(model_name="minilm-l6", api_base=base_url, api_key="unused")
    _same_as_encoder(embedding.get_text_embedding_batch(TEXTS))
    _same_as_encoder([embedding.get_query_embedding(text) for text in TEXTS])
