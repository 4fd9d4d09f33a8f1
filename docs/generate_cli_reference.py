"""Write docs/cli.md from the ``--help`` of every command (tests fail when it drifts).

.venv/bin/python docs/generate_cli_reference.py
"""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from embedspace.cli import main

TARGET = Path(__file__).with_name("cli.md")


def reference() -> str:
    """The whole reference as Markdown."""
    runner = CliRunner()
    parts = [
        "# Command-line reference\n",
        "Generated from `--help` by `docs/generate_cli_reference.py`.\n",
    ]
    commands = [[], *([name] for name in main.list_commands(click.Context(main)))]
    for command in commands:
        title = " ".join(["embedspace", *command])
        result = runner.invoke(
            main, [*command, "--help"], prog_name="embedspace", terminal_width=100
        )
        text = result.output
        parts.append(f"## {title}\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    TARGET.write_text(reference(), encoding="utf-8")
    print(f"Wrote {TARGET}")
