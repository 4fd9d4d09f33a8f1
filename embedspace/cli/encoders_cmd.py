"""``embedspace encoders``: what can embed on this machine."""

from __future__ import annotations

from typing import Any

import click

from embedspace.cli.output import emit_json, print_table
from embedspace.encoders import entries


@click.command("encoders")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per encoder.")
def encoders_command(as_json: bool) -> None:
    """List the encoders: name, dimension, modalities, metric, where the weights come from,
    and whether they can run here. Model directories can also be given by path."""
    rows: list[dict[str, Any]] = []
    for entry in entries():
        encoder = entry.create()
        reason = encoder.unavailable_reason()
        rows.append(
            {
                "name": encoder.name,
                "aliases": list(entry.aliases),
                "dim": encoder.dim,
                "modalities": sorted(encoder.modalities),
                "metric": encoder.metric,
                "source": encoder.source,
                "origin": entry.origin,
                "installed": reason is None,
                "note": reason or "",
            }
        )
    if as_json:
        emit_json(rows)
        return
    print_table(
        "Encoders (or give a model directory path)",
        ["name", "dim", "modalities", "metric", "source", "status"],
        [
            (
                r["name"],
                r["dim"],
                ",".join(r["modalities"]),
                r["metric"],
                r["source"],
                "installed" if r["installed"] else r["note"],
            )
            for r in rows
        ],
    )


@click.command("export-onnx")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
def export_onnx_command(folder: str) -> None:
    """Export the CLIP model in FOLDER (a transformers CLIPModel folder) to ONNX, once;
    afterwards '--encoder FOLDER' runs it on onnxruntime instead of torch.

    \b
    Example:
      embedspace export-onnx ./clip-vit-base-patch32
    """
    from embedspace.encoders.clip_export import export_onnx

    target = export_onnx(folder)
    click.echo(f"Wrote {target}/text.onnx and vision.onnx; {folder} now runs on onnxruntime.")


COMMANDS = [encoders_command, export_onnx_command]
