"""``embedspace evaluate-search``: how well a space's search modes find what is relevant."""

from __future__ import annotations

import click

from embedspace.cli.options import json_option
from embedspace.cli.output import emit_json, print_table
from embedspace.cli.progress import Stages
from embedspace.ops.search_eval import SearchEvaluation, evaluate_search_files
from embedspace.store import Space
from embedspace.store.fusion import MODES


@click.command("evaluate-search")
@click.argument("space")
@click.option(
    "--queries",
    required=True,
    type=click.Path(dir_okay=False),
    help="Queries: BEIR queries.jsonl (_id, text) or CSV/TSV (id, text).",
)
@click.option(
    "--qrels",
    required=True,
    type=click.Path(dir_okay=False),
    help="Judgements: BEIR qrels/test.tsv (query-id, corpus-id, score) or CSV "
    "(query_id, doc_id[, score]).",
)
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(MODES),
    help="Modes to compare (repeat; default: all three).",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Cut for nDCG, Recall and MRR.",
)
@json_option("One JSON object per mode: mode, ndcg, recall, recall_100, mrr, queries.")
def evaluate_search_command(
    space: str, queries: str, qrels: str, modes: tuple[str, ...], k: int, as_json: bool
) -> None:
    """Score SPACE's search on judged queries: nDCG@k, Recall@k, Recall@100 and MRR@k,
    one row per mode, side by side.

    Index the corpus into SPACE first (its ids must be the judgements' document ids).

    \b
    Examples:
      embedspace index scifact scifact/corpus.jsonl --id-field _id
      embedspace evaluate-search scifact --queries scifact/queries.jsonl \\
          --qrels scifact/qrels/test.tsv
      embedspace evaluate-search faq --queries q.csv --qrels qrels.csv --mode dense --json
    """
    with Space.open(space) as opened, Stages() as progress:
        found = evaluate_search_files(
            opened, queries, qrels, modes=modes or MODES, k=k, on_progress=progress
        )
    _print(found, as_json=as_json)


def _print(found: SearchEvaluation, *, as_json: bool) -> None:
    if as_json:
        emit_json(
            {**vars(row), "k": found.k, "queries": found.queries, "space": found.space}
            for row in found.rows
        )
        return
    title = f"{found.space}: {found.queries:,} judged queries" + (
        f" ({found.skipped:,} without a relevant document left out)" if found.skipped else ""
    )
    columns = ["mode", f"nDCG@{found.k}", f"Recall@{found.k}", "Recall@100", f"MRR@{found.k}"]
    rows = [(r.mode, r.ndcg, r.recall, r.recall_100, r.mrr) for r in found.rows]
    print_table(title, columns, rows)


COMMANDS = [evaluate_search_command]
