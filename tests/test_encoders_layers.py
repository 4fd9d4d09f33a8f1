"""The senses floor holds: encoders import nothing above them and no cycle among
themselves. Function-level (lazy) imports count, as they do for import-linter."""

from __future__ import annotations

import ast
from pathlib import Path

import embedspace

PACKAGE = Path(embedspace.__file__).parent
ABOVE = ("store", "ops", "cli", "train", "server", "render", "distributed", "sql")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every embedspace module ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: _imports(path, known) - {name} for name, path in files.items()}


def test_encoders_import_nothing_above_them() -> None:
    graph = _graph()
    upward = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("embedspace.encoders")
        for target in targets
        if target == "embedspace" or target.split(".")[1] in ABOVE
    }
    assert not upward


def test_no_import_cycle_inside_encoders() -> None:
    graph = _graph()
    inside = {n: {t for t in ts if t.startswith("embedspace.encoders")} for n, ts in graph.items()}
    inside = {n: ts for n, ts in inside.items() if n.startswith("embedspace.encoders")}

    def reaches(start: str, goal: str) -> list[str] | None:
        seen, stack = set(), [(start, [start])]
        while stack:
            node, route = stack.pop()
            for target in inside.get(node, ()):
                if target == goal:
                    return [*route, target]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*route, target]))
        return None

    cycles = [route for name in inside if (route := reaches(name, name))]
    assert not cycles, " -> ".join(cycles[0])


def test_the_registry_imports_no_model_code() -> None:
    graph = _graph()
    assert graph["embedspace.encoders.registry"] <= {
        "embedspace.encoders.base",
        "embedspace.errors",
    }
