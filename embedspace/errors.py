"""One error hierarchy for embedspace.

Every error says what went wrong and what to do next, and carries the HTTP status a
server face would answer with. Never raised through ``assert``; none subclasses
``KeyError`` (whose ``str`` adds quotes and hides the message).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EmbedspaceError(Exception):
    """Root of every error embedspace raises on purpose."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(EmbedspaceError):
    """The caller passed something embedspace cannot use (bad text, ids, options, files)."""

    status = 400


class UnknownEncoder(EmbedspaceError):
    """No encoder is registered under that name, and it is not a model directory."""

    status = 404


class SpaceNotFound(EmbedspaceError):
    """No space exists at that name or path."""

    status = 404


class SpaceExists(EmbedspaceError):
    """A space already exists where one was to be created."""

    status = 409


class DimensionMismatch(EmbedspaceError):
    """Vectors of the wrong dimension were given to a space or an encoder."""

    status = 409


class EncoderMismatch(EmbedspaceError):
    """A space was asked to mix vectors from an encoder other than the one it was built with."""

    status = 409


class ModelNotAvailable(EmbedspaceError):
    """An encoder's weights are not installed on this machine."""

    status = 503


class SpaceClosed(EmbedspaceError):
    """A space was used after ``close()`` (or after its ``with`` block ended)."""

    status = 409


class CorruptSpace(EmbedspaceError):
    """A space's database cannot be read; the message says how to recover."""

    status = 500


class StorageError(EmbedspaceError):
    """The disk refused: it is full, read-only, not permitted, or failing. Nothing was
    written; the message says which, and what to do."""

    status = 507


class ReadOnlySpace(StorageError):
    """A space that can be searched but not changed here (a read-only disk or folder, or
    no write permission)."""

    status = 409


class Unauthorized(EmbedspaceError):
    """A request without the token the server asks for (or with a wrong one)."""

    status = 401


class Forbidden(EmbedspaceError):
    """A request whose token may not do this (a read-only token asking to write)."""

    status = 403


class TooLarge(EmbedspaceError):
    """A request body, batch or upload over the server's limits."""

    status = 413


class Overloaded(EmbedspaceError):
    """The server is at its cap of concurrent requests; retry shortly."""

    status = 429


class MissingExtra(EmbedspaceError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""

    status = 501

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional package '{module}', which is not installed. "
            f"Install it with: pip install 'embedspace[{extra}]'"
        )
        self.extra = extra


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""`` if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
