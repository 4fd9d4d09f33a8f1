"""One error shape for every route: ``{"error": {"message", "type", "param", "code"}}``
(OpenAI's), with the HTTP status carried by the error hierarchy."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from embedspace.errors import EmbedspaceError

log = logging.getLogger("embedspace.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    501: "not_implemented_error",
    503: "service_unavailable_error",
    507: "storage_error",
}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON error every route returns."""
    body = {
        "error": {
            "message": message,
            "type": _TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _code(error: EmbedspaceError) -> str:
    """``SpaceNotFound`` -> ``space_not_found``."""
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def install(app: FastAPI) -> None:
    """Route every error through ``error_response``."""

    @app.exception_handler(EmbedspaceError)
    async def embedspace_error(request: Request, error: EmbedspaceError) -> JSONResponse:
        headers = {"Retry-After": "1"} if error.status == 429 else None
        param = getattr(error, "param", None)
        return error_response(
            error.status, error.message, code=_code(error), param=param, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = error.errors()[0] if error.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(where) or None
        message = f"{param}: {first.get('msg', 'invalid')}" if param else "Invalid request."
        return error_response(422, message, code="invalid_value", param=param)

    @app.exception_handler(HTTPException)
    async def http(request: Request, error: HTTPException) -> JSONResponse:
        message = str(error.detail) if error.detail else "Request failed."
        if error.status_code == 404 and message == "Not Found":
            message = f"No route {request.method} {request.url.path}; see /docs."
        headers = dict(error.headers) if error.headers else None
        return error_response(error.status_code, message, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("Unexpected error in %s %s", request.method, request.url.path)
        return error_response(
            500, "Internal error; the server log has the details.", code="internal_error"
        )
