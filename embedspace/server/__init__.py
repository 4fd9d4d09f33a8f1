"""The HTTP face: the API (OpenAI-compatible embeddings, spaces, search) and the web page.
Needs the ``serve`` extra (FastAPI, uvicorn)."""

from embedspace.server.app import create_app, serve
from embedspace.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "serve"]
