"""Names a package resolves on first use (PEP 562).

Importing one submodule runs its package's ``__init__``; a package that imported all its
names eagerly would load every sibling (``embedspace.io.audio`` pulled in the document
readers and ``html.parser``; ``embedspace.ops.sounds`` every application), which a fresh CLI
process pays for on each command. A package lists where each public name lives and hands
this module's ``__getattr__`` (and ``__dir__``) to Python instead.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that imports ``where[name]`` (a module
    path) on the first use of ``name`` and keeps the value in the package's namespace."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later uses skip this function
        return value

    return __getattr__


def lazy_dir(package: str, where: Mapping[str, str]) -> Callable[[], list[str]]:
    """A module-level ``__dir__`` for ``package``: its loaded names and the lazy ones, so
    ``dir()`` and editors' completion list a name before its first use."""

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __dir__
