"""Drawing labelled points to a file: interactive HTML (plotly, 2D or 3D, self-contained,
works offline) or a PNG (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.outputs import check_output_file, write_file

FORMATS = (".html", ".png")


def check_output(path: Path) -> None:
    """Fail early (before any work) for an unsupported suffix or a place that cannot be
    written (the output policy of ``embedspace.io.outputs``)."""
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"Write the picture to a .html or .png file, not '{path.name}'.")
    check_output_file(path)


def scatter(coordinates: np.ndarray, labels: Sequence[str], path: Path, *, title: str) -> None:
    """Labelled points (2 or 3 columns) to ``path``, written atomically."""
    check_output(path)
    draw = _html if path.suffix.lower() == ".html" else _png
    write_file(path, lambda temp: draw(coordinates, labels, temp, title))


def heatmap(matrix: np.ndarray, labels: Sequence[str], path: Path, *, title: str) -> None:
    """A labelled similarity matrix with its values written in the cells."""
    check_output(path)
    write_file(path, lambda temp: _heatmap(matrix, labels, temp, title))


def _heatmap(matrix: np.ndarray, labels: Sequence[str], temp: Path, title: str) -> None:
    """Draw the heatmap into ``temp`` (HTML or PNG, by its suffix)."""
    if temp.suffix.lower() == ".html":
        go = _plotly()
        figure = go.Figure(
            go.Heatmap(
                z=matrix,
                x=list(labels),
                y=list(labels),
                colorscale="YlOrRd",
                text=np.round(matrix, 2),
                texttemplate="%{text}",
                zmin=0,
                zmax=1,
            ),
            layout={"title": title, "yaxis": {"autorange": "reversed"}},
        )
        figure.write_html(str(temp), include_plotlyjs=True, full_html=True)
    else:
        plt = _pyplot()
        size = max(5.0, 0.6 * len(labels) + 3)
        figure, axes = plt.subplots(figsize=(size + 2, size), dpi=120)
        image = axes.imshow(matrix, cmap="YlOrRd", vmin=0, vmax=1)
        axes.set_xticks(
            range(len(labels)), [_shorten(t, 40) for t in labels], rotation=60, ha="right"
        )
        axes.set_yticks(range(len(labels)), [_shorten(t, 40) for t in labels])
        for (row, column), value in np.ndenumerate(matrix):
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8)
        figure.colorbar(image, ax=axes)
        axes.set_title(title)
        figure.tight_layout()
        figure.savefig(temp, format="png")
        plt.close(figure)


def points(
    coordinates: np.ndarray,
    hover: Sequence[str],
    colours: Sequence[str] | None,
    path: Path,
    *,
    title: str,
    colour_name: str = "",
) -> None:
    """Many points (a map of a space): hover text, coloured by a category or a number."""
    check_output(path)
    if path.suffix.lower() == ".html":
        write_file(
            path, lambda temp: _points_html(coordinates, hover, colours, temp, title, colour_name)
        )
    else:
        write_file(path, lambda temp: _points_png(coordinates, colours, temp, title, colour_name))


def _points_html(
    coordinates: np.ndarray,
    hover: Sequence[str],
    colours: Sequence[str] | None,
    path: Path,
    title: str,
    colour_name: str,
) -> None:
    go = _plotly()
    groups = sorted(set(colours)) if colours is not None else [""]
    traces = []
    for group in groups:
        rows = [i for i in range(len(coordinates)) if colours is None or colours[i] == group]
        style = {
            "mode": "markers",
            "name": group or "items",
            "text": [hover[i] for i in rows],
            "hoverinfo": "text",
            "marker": {"size": 4 if len(coordinates) > 2000 else 7},
        }
        if coordinates.shape[1] == 3:
            traces.append(
                go.Scatter3d(
                    x=coordinates[rows, 0], y=coordinates[rows, 1], z=coordinates[rows, 2], **style
                )
            )
        else:
            traces.append(go.Scattergl(x=coordinates[rows, 0], y=coordinates[rows, 1], **style))
    layout = {
        "title": title,
        "template": "plotly_white",
        "legend": {"title": {"text": colour_name}},
    }
    go.Figure(traces, layout=layout).write_html(str(path), include_plotlyjs=True, full_html=True)


def _points_png(
    coordinates: np.ndarray, colours: Sequence[str] | None, path: Path, title: str, colour_name: str
) -> None:
    plt = _pyplot()
    figure = plt.figure(figsize=(9, 7), dpi=120)
    axes = (
        figure.add_subplot(projection="3d") if coordinates.shape[1] == 3 else figure.add_subplot()
    )
    groups = sorted(set(colours)) if colours is not None else [""]
    palette = plt.get_cmap("tab20")
    for number, group in enumerate(groups[:20]):
        rows = [i for i in range(len(coordinates)) if colours is None or colours[i] == group]
        axes.scatter(*coordinates[rows].T, s=6, label=group or None, color=palette(number % 20))
    if colours is not None:
        axes.legend(title=colour_name, markerscale=2, fontsize=8)
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise MissingExtra("Drawing HTML pictures", "plot", "plotly") from None
    return go


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtra("Drawing PNG pictures", "plot", "matplotlib") from None
    return plt


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


def _shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
