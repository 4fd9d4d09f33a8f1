"""Bearer tokens: compared in constant time, never logged. ``reader`` lets the token or the
read-only token through; ``writer`` only the token. With no token set (loopback only,
``ServerSettings.check``), everything is open.

The dependencies are ``async`` although they wait for nothing: FastAPI runs a plain ``def``
dependency on its thread pool, a thread hop on every request for a few string comparisons.
Routes that decide late whether they write call ``may_write`` themselves."""

from __future__ import annotations

import hmac

from fastapi import Request

from embedspace.errors import Forbidden, Unauthorized


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _same(given: str | None, expected: str | None) -> bool:
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def may_read(request: Request) -> None:
    """Allow the token and the read-only token (or anyone, when no token is set)."""
    settings = request.app.state.embedspace.settings
    if not settings.token and not settings.read_only_token:
        return
    given = _presented(request)
    if not (_same(given, settings.token) or _same(given, settings.read_only_token)):
        raise Unauthorized(
            "Missing or wrong token: send the header 'Authorization: Bearer <token>'."
        )


def may_write(request: Request) -> None:
    """Allow only the token (or anyone, when no token is set)."""
    settings = request.app.state.embedspace.settings
    if not settings.token and not settings.read_only_token:
        return
    given = _presented(request)
    if _same(given, settings.token):
        return
    if _same(given, settings.read_only_token):
        raise Forbidden("This token may only read (search, get, embed); writing needs the token.")
    raise Unauthorized("Missing or wrong token: send the header 'Authorization: Bearer <token>'.")


async def reader(request: Request) -> None:
    """The dependency of routes that read: ``may_read``."""
    may_read(request)


async def writer(request: Request) -> None:
    """The dependency of routes that write: ``may_write``."""
    may_write(request)
