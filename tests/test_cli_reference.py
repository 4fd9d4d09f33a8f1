"""docs/cli.md is the current --help of every command."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "generate_cli_reference.py"


def test_cli_reference_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("generate_cli_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.reference()
    assert module.TARGET.read_text(encoding="utf-8") == expected, (
        "docs/cli.md is out of date: run .venv/bin/python docs/generate_cli_reference.py"
    )
