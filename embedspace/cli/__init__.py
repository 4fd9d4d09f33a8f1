"""The ``embedspace`` command line: one module per command group, each a thin face over
``store`` and ``ops``. Errors print one ``Error: …`` line and exit with status 1."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Any

import click

from embedspace.config import STORE_VARIABLE
from embedspace.errors import EmbedspaceError

log = logging.getLogger("embedspace")

#: What an interrupted command leaves behind, for the commands that write in steps.
_INTERRUPTED = {
    "index": "Interrupted. Batches already written are kept; run the same command again to resume.",
}


class _Group(click.Group):
    """Turns embedspace errors, bad option values and failed file operations into one line
    on stderr and exit status 1 (a malformed command line keeps click's usage message and
    status 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmbedspaceError as error:
            _fail(ctx, str(error))
        except click.BadParameter as error:
            if isinstance(error, click.MissingParameter):
                raise  # a malformed command line: click shows the usage
            hint = f" See '{error.ctx.command_path} --help'." if error.ctx else ""
            _fail(ctx, f"{error.format_message()}{hint}")
        except BrokenPipeError:
            raise  # the reader went away (embedspace ... | head): click ends quietly
        except OSError as error:
            log.info("Failed with", exc_info=True)  # the traceback, with --verbose
            where = f" ({error.filename})" if error.filename else ""
            _fail(ctx, f"{error.strerror or error}{where}. Check the path and its permissions.")
        except KeyboardInterrupt:
            click.echo(_INTERRUPTED.get(ctx.invoked_subcommand or "", "Interrupted."), err=True)
            ctx.exit(130)


def _fail(ctx: click.Context, message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="embedspace")
@click.option("-v", "--verbose", is_flag=True, help="Log what embedspace is doing to stderr.")
@click.option(
    "--store",
    metavar="URL",
    help="Keep spaces given by bare name in this PostgreSQL database (pgvector) instead of "
    "$EMBEDSPACE_HOME, e.g. postgresql://user@host:5432/db (or set $EMBEDSPACE_STORE).",
)
def main(verbose: bool, store: str | None) -> None:
    """Embed text and images, keep them in a crash-safe space, and search by meaning —
    offline.

    \b
    Quick start:
      embedspace demo                               # index the shipped headlines, search them
      embedspace index news headlines.csv           # make (or update) a space from a file
      embedspace search news "food" -k 5            # ranked by meaning, not by words
      embedspace similarity "a cat" "a kitten"      # one score
      embedspace index photos ./photos              # a folder of images
      embedspace search photos "a cat"              # ... searched by words or --image
      embedspace words analogy man woman king       # queen
      embedspace fix "teh qiuck brwon fox"          # the quick brown fox

    Spaces given by bare name live in $EMBEDSPACE_HOME (default: your user data folder), or
    in PostgreSQL with --store URL; anything with a '/' is a path. Every command that
    prints results takes --json.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    if store:  # read by every command's Space.open/create below (config.store_url)
        os.environ[STORE_VARIABLE] = store
    # One-time model preparation (up to ~40 s on first use) is worth a line on stderr.
    logging.getLogger("embedspace.prepare").setLevel(logging.INFO)


def run() -> None:
    """The console script (``embedspace``, ``python -m embedspace``): run the command, then
    end the process without tearing down every imported module one by one.

    That teardown (onnxruntime, faiss, numpy) took ~0.1 s of a ~0.5 s fresh search. By the
    time a command returns it has committed its writes and closed its files; exit handlers
    still run and the output streams are flushed. Tests call ``main`` as usual.
    """
    try:
        main()
        code: int = 0
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:
            click.echo(str(done.code), err=True)
            code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (embedspace ... | head)
            code = code or 1
    os._exit(code)


def _register() -> None:
    from embedspace.cli import (
        classify_cmd,
        cluster_cmd,
        dedup_cmd,
        demo_cmd,
        drift_cmd,
        embed_cmd,
        encoders_cmd,
        evaluate_cmd,
        faq_cmd,
        fix_cmd,
        index_cmd,
        items_cmd,
        match_cmd,
        outliers_cmd,
        pictures_cmd,
        recs_cmd,
        search_cmd,
        serve_cmd,
        spaces_cmd,
        sql_cmd,
        train_cmd,
        words_cmd,
    )

    modules = (
        index_cmd,
        items_cmd,
        search_cmd,
        evaluate_cmd,
        sql_cmd,
        spaces_cmd,
        encoders_cmd,
        embed_cmd,
        classify_cmd,
        dedup_cmd,
        cluster_cmd,
        outliers_cmd,
        drift_cmd,
        faq_cmd,
    )
    others = (pictures_cmd, words_cmd, fix_cmd, match_cmd, recs_cmd, train_cmd, serve_cmd, demo_cmd)
    for module in (*modules, *others):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
