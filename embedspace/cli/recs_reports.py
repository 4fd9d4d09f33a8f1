"""How the recommendation commands (``train two-tower``, ``evaluate``) show an evaluation:
a table per split, or JSON Lines."""

from __future__ import annotations

from embedspace.cli.output import emit_json, print_table
from embedspace.train.recs_eval import Report


def print_reports(reports: list[Report], title: str) -> None:
    k = reports[0].k
    print_table(
        title,
        ["model", f"Recall@{k}", f"NDCG@{k}", "MRR", "coverage", "users"],
        [
            (r.name, float(r.recall), float(r.ndcg), float(r.mrr), float(r.coverage), r.users)
            for r in reports
        ],
    )


def show_reports(reports: list[Report], split: str, *, as_json: bool) -> None:
    """The evaluation: JSON Lines, or a table titled by the test split."""
    if as_json:
        emit_reports(reports)
    else:
        print_reports(reports, f"{split}, seen items excluded")


def emit_reports(reports: list[Report]) -> None:
    """One JSON object per recommender: its name and metrics (plain floats)."""
    emit_json({k: (float(v) if k != "name" else v) for k, v in vars(r).items()} for r in reports)
