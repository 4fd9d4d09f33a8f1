"""Static encoders fitted to the user's own texts (``embedspace train static-encoder``).

A folder holds ``static_encoder.json`` (what it was fitted from and how), ``table.npy``
(one row per token of MiniLM's WordPiece vocabulary, float16) and ``map.npy`` (the learned
map that made the table, kept so the fit can be inspected). It runs as ``minilm-static``
does, a text being the mean of its tokens' rows, with no network and no teacher: the
table is complete. Only the shipped MiniLM's vocabulary is read, to tokenize.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedspace.encoders.model_config import model_tag, read_model_config
from embedspace.encoders.static import TokenMeans
from embedspace.errors import EmbedspaceError, ModelNotAvailable
from embedspace.progress import ProgressCallback

CONFIG_FILE = "static_encoder.json"
TABLE_FILE = "table.npy"
MAP_FILE = "map.npy"
FORMAT = "embedspace-static-encoder"


def is_static_encoder_directory(path: Path) -> bool:
    """True when ``path`` holds a fitted static encoder."""
    return (path / CONFIG_FILE).is_file()


def read_config(path: Path) -> dict[str, Any]:
    """The folder's ``static_encoder.json``, checked."""
    config = read_model_config(path / CONFIG_FILE, FORMAT, "static encoder")
    dim = config.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= 4096:
        raise ModelNotAvailable(
            f"{path / CONFIG_FILE} gives no valid 'dim' ({dim!r}): fit the static encoder "
            "again with `embedspace train static-encoder TEXTS -o FOLDER`."
        )
    return config


class StaticFolder(TokenMeans):
    """A fitted static encoder, named by its folder's path: cosine, unit-length vectors."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        super().__init__()
        self.path = path
        self.name = str(path)
        self._config = config
        self._dim = int(config["dim"])
        self.source = (
            f"static encoder fitted on {config.get('texts', '?'):,} texts against "
            f"{config.get('teacher', '?')} ({path})"
            if isinstance(config.get("texts"), int)
            else f"static encoder ({path})"
        )

    @property
    def dim(self) -> int:
        """The table's width (``--dims`` when fitted)."""
        return self._dim

    def availability_error(self) -> EmbedspaceError | None:
        """``ModelNotAvailable`` when the table is missing (the vocabulary ships with
        embedspace's MiniLM package)."""
        if not (self.path / TABLE_FILE).is_file():
            return ModelNotAvailable(
                f"{self.path} has no {TABLE_FILE}: fit it again with "
                "`embedspace train static-encoder TEXTS -o FOLDER`."
            )
        from embedspace.encoders.minilm import minilm_l6_fp32

        return minilm_l6_fp32().availability_error()

    def runtime_recipe(self) -> str:
        """Which fit made the table (a folder fitted again at the same path to other texts
        gets another), so a space can tell its stored vectors came from another fit."""
        return model_tag(self._config)

    def _load_table(self, tokenizer: Any, on_progress: ProgressCallback | None) -> np.ndarray:
        """Read from the folder and checked against the config."""
        try:
            table: np.ndarray = np.load(self.path / TABLE_FILE).astype(np.float32)
        except (OSError, ValueError) as error:
            raise ModelNotAvailable(
                f"Cannot read {self.path / TABLE_FILE} ({error}): fit the static "
                "encoder again with `embedspace train static-encoder`."
            ) from error
        if table.shape != (tokenizer.get_vocab_size(), self._dim):
            raise ModelNotAvailable(
                f"{self.path / TABLE_FILE} holds a {table.shape} table; "
                f"{CONFIG_FILE} says ({tokenizer.get_vocab_size()}, {self._dim}): "
                "fit the static encoder again."
            )
        return table


def static_folder(path: Path) -> StaticFolder:
    """The encoder of the fitted folder at ``path`` (cheap: the table loads on first use)."""
    return StaticFolder(path, read_config(path))
