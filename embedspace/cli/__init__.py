"""The ``embedspace`` command line: one module per command group, each a thin face over
``store`` and ``ops``. Errors print one ``Error: …`` line and exit with status 1."""

from __future__ import annotations

import atexit
import importlib
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
    status 2).

    Commands are loaded on demand: ``embedspace --help`` lists them from ``_COMMANDS``
    without importing numpy, the stores or the encoders (0.3 s of start-up otherwise).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module = importlib.import_module(f"embedspace.cli.{_COMMANDS[cmd_name][0]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = [n for n in self.list_commands(ctx) if n in _COMMANDS or n in self.commands]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if loaded.hidden:
                    continue
                rows.append((name, loaded.get_short_help_str(limit)))
            else:
                listed = click.Command(
                    name, help=_COMMANDS[name][1]
                )  # click shortens it as its own
                rows.append((name, listed.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


#: Every command: its module (imported only when the command runs or shows its own help)
#: and the line ``embedspace --help`` lists for it, so that listing imports nothing beyond
#: click (tests/test_cli_lazy.py keeps these lines equal to the commands' own).
_COMMANDS: dict[str, tuple[str, str]] = {
    "ask": (
        "faq_cmd",
        "Answer QUESTION from a FAQ space (questions indexed as text, answers as metadata).",
    ),
    "chat": (
        "faq_cmd",
        "Ask SPACE one question after another (an empty line, 'quit' or Ctrl-D ends).",
    ),
    "classify": (
        "classify_cmd",
        "Give every item of SPACE_OR_FOLDER the label that fits it best (zero-shot).",
    ),
    "cluster": (
        "cluster_cmd",
        "Group the items of SPACE into clusters, each with its size, central examples and "
        "keywords.",
    ),
    "dedup": ("dedup_cmd", "Find groups of duplicate and near-duplicate items in SPACE."),
    "dedup-records": (
        "match_cmd",
        "Find groups of records in FILE that are probably the same entity.",
    ),
    "delete": ("spaces_cmd", "Delete SPACE and everything in it (it asks first, unless --yes)."),
    "demo": (
        "demo_cmd",
        "Build a space from the headlines that ship with embedspace and search it.",
    ),
    "drift": (
        "drift_cmd",
        "Did the data change between REFERENCE and CURRENT? Each is a space, a slice of a space"
        " (--reference-where/--current-where), or a file of texts.",
    ),
    "embed": ("embed_cmd", "Embed TEXTS (and/or the items of --file) and write the vectors."),
    "encoders": (
        "encoders_cmd",
        "List what can embed here: the built-in encoders (dimension, input, where the weights "
        "come from, whether they run here and, for minilm-l6, which recipe this CPU runs), then"
        " the kinds of model you can give to --encoder by path or id, with how to get each.",
    ),
    "evaluate": (
        "recs_cmd",
        "Re-run the evaluation of a two-tower MODEL on INTERACTIONS, split the same way it was "
        "trained (the model only knows the training part), with the baselines.",
    ),
    "evaluate-search": (
        "evaluate_cmd",
        "Score SPACE's search on judged queries: nDCG@k, Recall@k, Recall@100 and MRR@k, one "
        "row per mode, side by side.",
    ),
    "export": (
        "items_cmd",
        "Write the items of SPACE to a Parquet or JSON Lines file: id, content, metadata and "
        "vector per item, written atomically.",
    ),
    "export-onnx": (
        "encoders_cmd",
        "Export the CLIP or CLAP model in FOLDER (a transformers CLIPModel or ClapModel folder)"
        " to ONNX, once; afterwards '--encoder FOLDER' runs it on onnxruntime instead of torch.",
    ),
    "fix": ("fix_cmd", "Correct the typos in TEXT, showing the candidates for every changed word."),
    "heatmap": (
        "pictures_cmd",
        "Draw how similar every pair of SENTENCES is (cosine), like the Universal Sentence "
        "Encoder figure: related sentences light up in blocks.",
    ),
    "index": (
        "index_cmd",
        "Embed FILES into SPACE: CSV/TSV, JSONL, JSON, Parquet, or text (one item per line), "
        "image files, HTML pages and PDFs (one item per page), and folders of these and of text"
        " files (.txt, .md: one item per file), searched recursively.",
    ),
    "info": (
        "spaces_cmd",
        "Show what SPACE holds: encoder, dimension, metric, the recipe(s) its vectors were made"
        " with and the one queries run here (minilm-l6 chooses per CPU), size, index state.",
    ),
    "items": (
        "items_cmd",
        "List the items of SPACE, oldest first: id, text (shortened) and metadata.",
    ),
    "map": (
        "pictures_cmd",
        "Project SPACE to 2D or 3D and draw it, points coloured by a metadata field, each "
        "showing its id and text on hover (HTML).",
    ),
    "match": (
        "match_cmd",
        "Find records of LEFT and RIGHT (CSV/JSONL/JSON/Parquet) that describe the same thing, "
        "despite typos, abbreviations and reordered words.",
    ),
    "outliers": ("outliers_cmd", "Rank the items of SPACE by how little they fit the rest."),
    "recommend": (
        "recs_cmd",
        "The K items MODEL recommends to a user (items they already chose are left out).",
    ),
    "remove": ("items_cmd", "Remove the items with these IDs from SPACE (in one transaction)."),
    "search": (
        "search_cmd",
        "Find the items of SPACE closest in meaning to QUERY, to an --image, or identify the "
        "song an --audio clip is from.",
    ),
    "search-many": (
        "search_cmd",
        "Search SPACE for every line of FILE (one text query per line; - reads standard input),"
        " the queries embedded together: several times faster than one search per query.",
    ),
    "serve": (
        "serve_cmd",
        "Serve SPACES (default: every space in $EMBEDSPACE_HOME) over HTTP: an OpenAI-"
        "compatible /v1/embeddings, spaces and search under /spaces, the web page at /, and the"
        " API's documentation at /docs.",
    ),
    "similar": (
        "search_cmd",
        "Find the items of SPACE closest to the stored item ID (itself excluded).",
    ),
    "similar-items": (
        "recs_cmd",
        'Items closest to an item in MODEL\'s item space ("people who liked this...").',
    ),
    "similarity": ("embed_cmd", "How similar two texts are, as one score."),
    "spaces": ("spaces_cmd", "List the spaces in $EMBEDSPACE_HOME."),
    "sql": (
        "sql_cmd",
        "Run a SQL QUERY (DuckDB) where every space is a table by its name: id, content, one "
        "column per metadata field and vector FLOAT[dim].",
    ),
    "train": (
        "train_cmd",
        "Train encoders on your own data (the 'torch' extra; static-encoder: core only).",
    ),
    "words": ("words_cmd", "Word vectors: similar words, analogies, evaluation, pictures."),
}
