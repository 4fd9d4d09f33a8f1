"""``embedspace encoders``: what can embed on this machine."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, print_listing

if TYPE_CHECKING:
    from embedspace.encoders.listing import EncoderSummary


@click.command("encoders")
@json_option("One JSON object per encoder.")
def encoders_command(as_json: bool) -> None:
    """List what can embed here: the built-in encoders (dimension, input, where the weights
    come from, whether they run here and, for minilm-l6, which recipe this CPU runs), then
    the kinds of model you can give to --encoder by path or id, with how to get each.

    \b
    Examples:
      embedspace encoders
      embedspace encoders --json | jq -r 'select(.type == "registered") | .name'
    """
    from embedspace.encoders.listing import MODEL_KINDS, summaries

    found = summaries()
    if as_json:
        emit_json([{**asdict(s), "type": "registered"} for s in found])
        emit_json([{**asdict(k), "type": "by path or id"} for k in MODEL_KINDS])
        return
    print_listing("Encoders (--encoder NAME)", [_described(s) for s in found])
    print_listing(
        "Also usable (--encoder PATH or hf:ID)",
        [(k.kind, f"{k.example}: {k.how}.") for k in MODEL_KINDS],
    )


def _described(summary: EncoderSummary) -> tuple[str, str]:
    """A registered encoder as a name and one line about it."""
    s = summary
    status = s.status[:1].upper() + s.status[1:] if s.installed else f"Not installed: {s.status}"
    return (
        s.name + (" (default)" if s.default else ""),
        f"{s.dim}-d {' + '.join(s.modalities)}, {s.metric}. {s.source}. " + status,
    )


@click.command("export-onnx")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
def export_onnx_command(folder: str) -> None:
    """Export the CLIP or CLAP model in FOLDER (a transformers CLIPModel or ClapModel
    folder) to ONNX, once; afterwards '--encoder FOLDER' runs it on onnxruntime instead of
    torch.

    \b
    Examples:
      embedspace export-onnx ./clip-vit-base-patch32
      embedspace export-onnx ./clap-htsat-unfused
    """
    from embedspace.encoders.model_formats import export_onnx

    written = export_onnx(folder)
    names = " and ".join(path.name for path in written)
    click.echo(f"Wrote {names} to {written[0].parent}; {folder} now runs on onnxruntime.")


COMMANDS = [encoders_command, export_onnx_command]
