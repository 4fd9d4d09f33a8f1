"""The JSON file that says what a model folder written by embedspace holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedspace.errors import EmbedspaceError


def read_model_config(file: Path, expected_format: str, kind: str) -> dict[str, Any]:
    """The JSON object in ``file``, whose ``format`` must be ``expected_format``; an
    ``EmbedspaceError`` naming the file (and ``kind``, e.g. "text encoder") otherwise."""
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EmbedspaceError(f"Cannot read {file}: {error}") from None
    if not isinstance(config, dict) or config.get("format") != expected_format:
        raise EmbedspaceError(f"{file} is not an embedspace {kind}.")
    return config


def model_tag(config: dict[str, Any]) -> str:
    """How a space tells one training of a model folder from another at the same path:
    ``model`` and the start of the config's training id (``""`` without one). Spaces
    record it with the recipe."""
    training = str(config.get("training_id", ""))[:12]
    return f"model {training}" if training else ""
