"""`embedspace --help` lists every command without importing them (start-up stays fast),
and what it lists is what each command says about itself."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click
import pytest

import embedspace
import embedspace.cli as cli


def _all_commands() -> dict[str, tuple[str, click.Command]]:
    found: dict[str, tuple[str, click.Command]] = {}
    for info in pkgutil.iter_modules(cli.__path__):
        if not info.name.endswith("_cmd"):
            continue
        module = importlib.import_module(f"embedspace.cli.{info.name}")
        for command in module.COMMANDS:
            assert command.name is not None
            found[command.name] = (info.name, command)
    return found


def test_the_table_names_every_command_with_its_own_help() -> None:
    commands = _all_commands()
    assert set(cli._COMMANDS) == set(commands)
    for name, (module, command) in commands.items():
        listed_module, listed_help = cli._COMMANDS[name]
        assert listed_module == module, name
        for limit in (30, 45, 80, 10_000):
            shown = click.Command(name, help=listed_help).get_short_help_str(limit)
            assert shown == command.get_short_help_str(limit), (name, limit)


def test_help_imports_no_command_nor_numpy() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from embedspace.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'similar-items' in result.output\n"
        "heavy = sorted(m for m in sys.modules if m == 'numpy' or m.endswith('_cmd')\n"
        "               or m.startswith(('embedspace.store', 'embedspace.ops')))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_command_loads_when_it_runs() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(
        cli.main, ["similarity", "a cat", "a kitten", "--encoder", "hashing"]
    )
    assert result.exit_code == 0, result.output
    assert 0.0 < float(result.output.split()[-1]) <= 1.0
    assert cli.main.get_command(click.Context(cli.main), "no-such-command") is None


@pytest.mark.parametrize("name", sorted(embedspace.__all__))
def test_every_public_name_resolves_lazily(name: str) -> None:
    assert getattr(embedspace, name) is not None
    assert name in dir(embedspace)


def test_an_unknown_public_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        embedspace.nope  # noqa: B018
    assert embedspace.TwoTowerModel is embedspace.Recommender


def test_a_text_search_loads_no_other_application(tmp_path) -> None:  # type: ignore[no-untyped-def]
    space = embedspace.Space.create(tmp_path / "s", encoder="hashing")
    space.add(["a cat on a mat", "stock markets fell"], ids=["cat", "stocks"])
    space.close()
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from embedspace.cli import main\n"
        f"result = CliRunner().invoke(main, ['search', {str(tmp_path / 's')!r}, 'cat', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert '\"cat\"' in result.output.splitlines()[0], result.output\n"
        "unused = ('embedspace.ops.classify', 'embedspace.ops.cluster',\n"
        "          'embedspace.io.documents', 'embedspace.io.folder_items', 'html.parser')\n"
        "print(sorted(m for m in unused if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", [embedspace.io, embedspace.ops])
def test_subpackage_names_resolve_on_first_use(package) -> None:  # type: ignore[no-untyped-def]
    fresh = (  # a new process: no name of the package used yet
        f"import {package.__name__} as p; print(sorted(set(p.__all__) - set(dir(p))))"
    )
    done = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # dir() lists every lazy name before its first use
    for name in package.__all__:
        value = getattr(package, name)
        assert getattr(value, "__name__", name) == name, (package.__name__, name)
    with pytest.raises(AttributeError, match=f"'{package.__name__}' has no attribute 'nope'"):
        package.nope  # noqa: B018


def test_ops_similarity_stays_the_function_once_its_module_is_imported() -> None:
    import embedspace.ops.similarity  # noqa: F401  (binds the module on the package)
    from embedspace.ops import similarity

    assert callable(similarity)
    assert similarity("a cat", "a cat", encoder="hashing") == pytest.approx(1.0)
