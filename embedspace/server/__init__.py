"""The HTTP face: the API (OpenAI-compatible embeddings, spaces, search) and the web page.
Needs the ``serve`` extra (FastAPI, uvicorn).

``create_app`` and ``serve`` load FastAPI on first use, not when this package is imported:
every CLI command imports the ``serve`` command, and FastAPI's import takes ~0.4 s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedspace.server.settings import ServerSettings

if TYPE_CHECKING:
    from embedspace.server.app import create_app, serve

__all__ = ["ServerSettings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "serve"):
        from embedspace.server import app

        return getattr(app, name)
    raise AttributeError(f"module 'embedspace.server' has no attribute {name!r}")
