"""What a server is configured with: one immutable value, passed to ``create_app``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedspace.errors import InvalidInput

TOKEN_VARIABLE = "EMBEDSPACE_TOKEN"


@dataclass(frozen=True)
class ServerSettings:
    """How ``embedspace serve`` (or ``create_app``) runs.

    ``spaces``: the space names or paths served (empty: every space in
    ``$EMBEDSPACE_HOME``, also ones created later over HTTP). ``token`` may read and write;
    ``read_only_token`` may only read (search, get, embed). Limits: request bodies
    (``max_body_bytes``, 413), texts per request (``max_batch``, 413), requests in flight
    (``max_concurrent``, 429 with Retry-After), uploaded images (``max_image_bytes`` and
    ``max_image_pixels``). ``cors_origins``: browser origins allowed to call the API
    (none by default). ``recommenders``: two-tower model folders served under
    ``/recommenders/{folder name}``.
    """

    spaces: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    read_only_token: str | None = None
    default_model: str = "minilm-l6"
    models: tuple[str, ...] = ("minilm-l6",)
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch: int = 2048
    max_concurrent: int = 64
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_audio_bytes: int = 20 * 1024 * 1024
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    workers: int = 1
    recommenders: tuple[str, ...] = ()

    def check(self) -> None:
        """Raise ``InvalidInput`` for settings that must not run: a server reachable from
        other machines without a token, or limits that make no sense."""
        if not _loopback(self.host) and not self.token:
            raise InvalidInput(
                f"Serving on {self.host} makes the API reachable from other machines; give a "
                f"token (--token, or ${TOKEN_VARIABLE}) or bind to 127.0.0.1."
            )
        if self.read_only_token and self.read_only_token == self.token:
            raise InvalidInput("The read-only token must differ from the token.")
        for name in ("max_body_bytes", "max_batch", "max_concurrent", "workers", "port"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name} must be at least 1.")
        self.recommender_folders()

    def recommender_folders(self) -> dict[str, Path]:
        """The served two-tower models by name (their folder's name). Raises
        ``InvalidInput`` for a folder that is not a two-tower model, or two of one name."""
        from embedspace.encoders.two_tower import is_two_tower_directory

        folders: dict[str, Path] = {}
        for given in self.recommenders:
            path = Path(given).expanduser().resolve()
            if not is_two_tower_directory(path):
                raise InvalidInput(
                    f"{given} is not a two-tower model folder; make one with "
                    "'embedspace train two-tower'."
                )
            if path.name in folders:
                raise InvalidInput(f"Two recommenders are named '{path.name}'; rename a folder.")
            folders[path.name] = path
        return folders


def to_environment(settings: ServerSettings) -> str:
    """``settings`` as one JSON string, for worker processes (``--workers``) to read back
    with ``from_environment``."""
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(settings))


def from_environment(text: str) -> ServerSettings:
    """The settings ``to_environment`` wrote."""
    import json

    values: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in json.loads(text).items()
    }
    return ServerSettings(**values)


def _loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
