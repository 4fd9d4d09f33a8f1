"""The house rules that keep the code navigable, checked (the floors themselves are an
import-linter contract in pyproject.toml, run by ``lint-imports`` in CI; these tests add
what it does not check)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "embedspace"
MAX_LINES = 600
MAX_COMMAND_BODY = 25


def test_no_import_cycles() -> None:
    """No module imports, directly or through others, a module that imports it (imports
    inside functions count too: they are cycles waiting for a refactor)."""
    graph = grimp.build_graph("embedspace")
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                cycles.add(" -> ".join((module, *chain)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_modules_stay_small() -> None:
    too_long = {
        str(file.relative_to(PACKAGE)): lines
        for file in PACKAGE.rglob("*.py")
        if (lines := len(file.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def _command_bodies() -> dict[str, int]:
    """Lines of each click command's body (docstring excluded), by ``file:function``."""
    bodies = {}
    for file in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            if not any(
                isinstance(d, ast.Call)
                and isinstance(d.func, ast.Attribute)
                and d.func.attr == "command"
                for d in node.decorator_list
            ):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            assert body[-1].end_lineno is not None
            bodies[f"{file.name}:{node.name}"] = body[-1].end_lineno - body[0].lineno + 1
    return bodies


def test_commands_are_thin() -> None:
    """A command parses, makes one call below the faces, and renders: a short body."""
    bodies = _command_bodies()
    assert len(bodies) > 20  # the walk found the commands
    long = {name: lines for name, lines in bodies.items() if lines > MAX_COMMAND_BODY}
    assert not long, f"command bodies over {MAX_COMMAND_BODY} lines: {long}"


@pytest.mark.parametrize("floor", ["encoders", "store", "train", "io"])
def test_lower_floors_do_not_import_the_package_root(floor: str) -> None:
    """``import embedspace`` pulls in every floor; below the faces, modules import what
    they need by its module path."""
    graph = grimp.build_graph("embedspace")
    offenders = {
        module
        for module in graph.find_descendants(f"embedspace.{floor}") | {f"embedspace.{floor}"}
        if graph.direct_import_exists(importer=module, imported="embedspace")
    }
    assert not offenders


def test_the_cli_starts_without_heavy_imports() -> None:
    """Every command pays for what ``embedspace --help`` imports: the server's FastAPI,
    torch, scikit-learn and onnxruntime load only when a command needs them."""
    import subprocess
    import sys

    heavy = ["fastapi", "uvicorn", "torch", "sklearn", "onnxruntime", "faiss", "plotly"]
    script = (
        f"import sys, embedspace.cli; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"imported at CLI start: {loaded}"
