"""The HTTP face: ``create_app(settings)`` builds a FastAPI app (no module-level state: two
apps in one process share nothing), and ``serve(settings)`` runs it with uvicorn.

Every request passes two guards before its route: a cap on requests in flight (429 with
``Retry-After``) and a body size limit (413), both answered in the one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedspace.server import errors
from embedspace.server.openai_api import router as openai_router
from embedspace.server.settings import ServerSettings
from embedspace.server.spaces_api import router as spaces_router
from embedspace.server.state import ServerState
from embedspace.server.tools_api import router as tools_router
from embedspace.server.views_api import router as views_router
from embedspace.version import __version__


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """A new app serving ``settings.spaces`` (all spaces in ``$EMBEDSPACE_HOME`` when
    empty), the OpenAI-compatible embeddings API, and the web page at ``/``."""
    settings = settings or ServerSettings()
    settings.check()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.close()

    app = FastAPI(
        title="embedspace",
        version=__version__,
        description="Embeddings, spaces and search over HTTP; OpenAI-compatible embeddings.",
        lifespan=lifespan,
    )
    app.state.embedspace = state
    errors.install(app)
    app.add_middleware(_Guard, state=state)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.include_router(openai_router)
    app.include_router(spaces_router)
    app.include_router(tools_router)
    app.include_router(views_router)
    _basics(app, state)
    return app


class _Guard:
    """Plain ASGI middleware in front of every route: a cap on requests in flight (429
    with ``Retry-After``), a body size limit (413; an image upload may be as large as the
    image limit), and the request counters of ``/metrics``. Plain ASGI, not Starlette's
    ``BaseHTTPMiddleware``, which adds a task and a stream copy to every request."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app, self.state = app, state
        settings = state.settings
        self.upload_limit = max(settings.max_body_bytes, settings.max_image_bytes + 64 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state, settings = self.state, self.state.settings
        if state.in_flight >= settings.max_concurrent:
            busy = f"The server is handling {state.in_flight} requests, its limit; retry shortly."
            response = errors.error_response(
                429, busy, code="overloaded", headers={"Retry-After": "1"}
            )
            await response(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.upload_limit if path.endswith("/search/image") else settings.max_body_bytes
        state.in_flight += 1  # counted before the body is read: slow uploads count too
        try:
            headers = dict(scope["headers"])
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
            if declared is None and scope["method"] in ("POST", "PUT", "PATCH"):
                body = await _read_body(receive, limit)
                if body is None:
                    await _too_large(limit)(scope, receive, send)
                    return
                receive = _replay(body)
            segment = path.split("/")[1] or "page"
            state.requests[segment if segment in _COUNTED else "other"] += 1
            await self.app(scope, receive, send)
        finally:
            state.in_flight -= 1


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """A body sent without a length, read up to ``limit`` bytes; ``None`` past it."""
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return body


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands the app a body already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


#: The first path segments ``/metrics`` counts by name (any other path counts as "other",
#: so clients cannot add labels).
_COUNTED = frozenset(
    {
        "v1",
        "spaces",
        "heatmap",
        "drift",
        "recommenders",
        "health",
        "metrics",
        "docs",
        "static",
        "openapi.json",
        "page",
    }
)


def _too_large(limit: int) -> Response:
    return errors.error_response(
        413, f"The request body is over {limit:,} bytes.", code="too_large"
    )


def _basics(app: FastAPI, state: ServerState) -> None:
    """``/health``, ``/metrics`` and the web page."""

    @app.get("/health", tags=["Server"])
    def health() -> dict[str, Any]:
        """Whether the server runs, and what it serves."""
        return {"status": "ok", "version": __version__, "models": list(state.settings.models)}

    @app.get("/metrics", tags=["Server"], response_class=PlainTextResponse)
    def metrics() -> str:
        """Prometheus text: requests by first path segment, requests in flight."""
        lines = [
            "# HELP embedspace_requests_total Requests received, by first path segment.",
            "# TYPE embedspace_requests_total counter",
            *(
                f'embedspace_requests_total{{path="{path}"}} {count}'
                for path, count in sorted(state.requests.items())
            ),
            "# HELP embedspace_requests_in_flight Requests being handled now.",
            "# TYPE embedspace_requests_in_flight gauge",
            f"embedspace_requests_in_flight {state.in_flight}",
        ]
        return "\n".join(lines) + "\n"

    static = resources.files("embedspace.server") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(static / "index.html"))


#: The environment variable that hands the settings to ``--workers`` processes.
SETTINGS_VARIABLE = "EMBEDSPACE_SERVER_SETTINGS"


def app_from_environment() -> FastAPI:
    """The app of one worker process (``serve`` with ``workers`` > 1): its settings come
    from ``$EMBEDSPACE_SERVER_SETTINGS``, set by the parent."""
    import os

    from embedspace.server.settings import from_environment

    return create_app(from_environment(os.environ[SETTINGS_VARIABLE]))


def serve(settings: ServerSettings) -> None:
    """Run the app with uvicorn until interrupted (the ``embedspace serve`` command): in
    this process, or in ``settings.workers`` worker processes sharing the port (each with
    its own encoders and open spaces; SQLite lets them read and write the same spaces)."""
    import os

    import uvicorn

    from embedspace.server.settings import to_environment

    settings.check()
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,  # request lines would carry query texts; tokens are never logged
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    os.environ[SETTINGS_VARIABLE] = to_environment(settings)
    uvicorn.run(
        "embedspace.server.app:app_from_environment",
        factory=True,
        workers=settings.workers,
        **common,
    )
