"""Drawing labelled points to a file: interactive HTML (plotly, 2D or 3D, self-contained,
works offline) or a PNG (matplotlib)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedspace.errors import EmbedspaceError, InvalidInput, MissingExtra

FORMATS = (".html", ".png")


def check_output(path: Path) -> None:
    """Fail early (before any work) for an unsupported suffix or a missing folder."""
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"Write the picture to a .html or .png file, not '{path.name}'.")
    if not path.parent.is_dir():
        raise InvalidInput(f"No folder {path.parent} to write {path.name} into.")


def scatter(coordinates: np.ndarray, labels: Sequence[str], path: Path, *, title: str) -> None:
    """Labelled points (2 or 3 columns) to ``path``, written atomically."""
    check_output(path)
    temp = Path(tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)[1])
    try:
        if path.suffix.lower() == ".html":
            _html(coordinates, labels, temp, title)
        else:
            _png(coordinates, labels, temp, title)
        os.replace(temp, path)
    except OSError as error:
        raise EmbedspaceError(f"Could not write {path}: {error}") from None
    finally:
        temp.unlink(missing_ok=True)


def _html(coordinates: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise MissingExtra("Drawing HTML pictures", "plot", "plotly") from None
    style = {"mode": "markers+text", "text": list(labels), "textposition": "top center"}
    if coordinates.shape[1] == 3:
        trace = go.Scatter3d(x=coordinates[:, 0], y=coordinates[:, 1], z=coordinates[:, 2], **style)
    else:
        trace = go.Scatter(x=coordinates[:, 0], y=coordinates[:, 1], **style)
    figure = go.Figure(trace, layout={"title": title, "template": "plotly_white"})
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)  # offline: JS inlined


def _png(coordinates: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra("Drawing PNG pictures", "plot", "matplotlib") from None
    figure = plt.figure(figsize=(8, 6), dpi=120)
    if coordinates.shape[1] == 3:
        axes = figure.add_subplot(projection="3d")
        axes.scatter(coordinates[:, 0], coordinates[:, 1], coordinates[:, 2])
        for (x, y, z), label in zip(coordinates, labels, strict=True):
            axes.text(x, y, z, f" {label}")
    else:
        axes = figure.add_subplot()
        axes.scatter(coordinates[:, 0], coordinates[:, 1])
        for (x, y), label in zip(coordinates, labels, strict=True):
            axes.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4))
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)
