"""The multitool on a space: ``dedup``, ``cluster``, ``outliers``, ``drift``, ``ask``, ``chat``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from embedspace.cli.output import emit_json, parse_where, print_table, shorten
from embedspace.errors import InvalidInput
from embedspace.io import Record, read_records
from embedspace.store import Space, resolve
from embedspace.store.database import DATABASE_FILE


# ---------------------------------------------------------------------------- dedup
@click.command("dedup")
@click.argument("space")
@click.option(
    "--threshold",
    default=0.9,
    show_default=True,
    type=click.FloatRange(-1, 1),
    help="Lowest cosine similarity of a duplicate pair.",
)
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neighbours examined per item.",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Show what several thresholds would keep, with examples, instead.",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(dir_okay=False),
    help="With --calibrate: a table of labelled pairs (columns first, second, "
    "duplicate: 1/0) for precision and recall.",
)
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per group: members, score, exact."
)
def dedup_command(
    space: str,
    threshold: float,
    k: int,
    calibrate: bool,
    labels_file: str | None,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Find groups of duplicate and near-duplicate items in SPACE.

    \b
    Examples:
      embedspace dedup news --threshold 0.9
      embedspace dedup news --calibrate                      # which threshold?
      embedspace dedup news --calibrate --labels pairs.csv   # precision/recall per threshold
    """
    from embedspace.ops.dedup import calibrate as run_calibration
    from embedspace.ops.dedup import duplicate_groups

    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
    if calibrate or labels_file:
        labelled = _labelled_pairs(Path(labels_file)) if labels_file else []
        rows = run_calibration(snapshot, labelled, k=k)
        if as_json:
            emit_json(
                {
                    "threshold": r.threshold,
                    "pairs": r.pairs,
                    "precision": r.precision,
                    "recall": r.recall,
                    "example": None
                    if r.example is None
                    else {
                        "first": r.example.first,
                        "second": r.example.second,
                        "score": r.example.score,
                    },
                }
                for r in rows
            )
            return
        content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
        columns = (
            ["threshold", "pairs", "precision", "recall", "weakest pair kept"]
            if labelled
            else ["threshold", "pairs", "weakest pair kept"]
        )
        table = []
        for r in rows:
            example = (
                ""
                if r.example is None
                else f"{r.example.score:.3f}: {shorten(content[r.example.first], 40)} ≈ "
                f"{shorten(content[r.example.second], 40)}"
            )
            table.append(
                (r.threshold, r.pairs, r.precision, r.recall, example)
                if labelled
                else (r.threshold, r.pairs, example)
            )
        print_table(f"Duplicate pairs by threshold ({len(snapshot)} items)", columns, table)
        return
    groups = duplicate_groups(snapshot, threshold, k)
    if as_json:
        emit_json({"members": g.members, "score": g.score, "exact": g.exact} for g in groups)
        return
    if not groups:
        click.echo(
            f"No duplicates at or above {threshold} among {len(snapshot)} items. Try --calibrate."
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    print_table(
        f"{len(groups)} groups of duplicates ({sum(len(g.members) for g in groups)} items)",
        ["members", "score", "kind", "first item"],
        [
            (
                ", ".join(g.members[:6]) + (" …" if len(g.members) > 6 else ""),
                g.score,
                "exact" if g.exact else "near",
                shorten(content[g.members[0]], 80),
            )
            for g in groups
        ],
    )


def _labelled_pairs(path: Path) -> list[tuple[str, str, bool]]:
    from embedspace.io import read_rows

    pairs = []
    for number, row in read_rows(path):
        try:
            flag = str(row["duplicate"]).strip().lower()
            pairs.append((str(row["first"]), str(row["second"]), flag in ("1", "true", "yes", "y")))
        except KeyError:
            raise InvalidInput(
                f"{path}, row {number}: needs columns first, second, duplicate."
            ) from None
    if not pairs:
        raise InvalidInput(f"{path} holds no labelled pairs.")
    return pairs


# -------------------------------------------------------------------------- cluster
@click.command("cluster")
@click.argument("space")
@click.option("-k", "k", type=click.IntRange(min=2), help="Number of clusters (k-means).")
@click.option(
    "--auto",
    is_flag=True,
    help="Find the clusters by density (HDBSCAN); some items stay unclustered (-1).",
)
@click.option(
    "--min-cluster-size",
    type=click.IntRange(min=2),
    help="With --auto: smallest cluster (default 1% of items, at least 5).",
)
@click.option(
    "--write",
    "write_field",
    metavar="FIELD",
    help="Store each item's cluster in this metadata field.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item: id, cluster.")
def cluster_command(
    space: str,
    k: int | None,
    auto: bool,
    min_cluster_size: int | None,
    write_field: str | None,
    seed: int,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Group the items of SPACE into clusters, each with its size, central examples and
    keywords.

    \b
    Examples:
      embedspace cluster news -k 5
      embedspace cluster news --auto --write topic
    """
    from embedspace.ops.cluster import cluster

    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
        words = opened.encoder if "text" in opened.encoder.modalities else None
        result = cluster(
            snapshot, k, auto=auto, min_cluster_size=min_cluster_size, seed=seed, encoder=words
        )
        if write_field:
            opened.update_metadata(
                {
                    i: {write_field: int(label)}
                    for i, label in zip(result.ids, result.labels, strict=True)
                }
            )
    if as_json:
        emit_json(
            {"id": i, "cluster": int(label)}
            for i, label in zip(result.ids, result.labels, strict=True)
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    unclustered = int(np.sum(result.labels == -1))
    print_table(
        f"{len(result.clusters)} clusters of {len(snapshot)} items"
        + (f" ({unclustered} in none)" if unclustered else ""),
        ["cluster", "size", "keywords", "central items"],
        [
            (
                c.label,
                c.size,
                ", ".join(c.keywords),
                " | ".join(shorten(content[i], 50) for i in c.central),
            )
            for c in result.clusters
        ],
    )
    if write_field:
        click.echo(f"Wrote each item's cluster to metadata field '{write_field}'.", err=True)


# ------------------------------------------------------------------------- outliers
@click.command("outliers")
@click.argument("space")
@click.option(
    "--method",
    type=click.Choice(["knn", "lof", "iforest"]),
    default="knn",
    show_default=True,
    help="How unusualness is scored.",
)
@click.option(
    "-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neighbours (knn, lof).",
)
@click.option(
    "--contamination",
    type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
    help="Expected share of outliers (sets the threshold); default: a robust 3-sigma rule.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    help="Show only the N most unusual (default: 20 in the table, all with --json).",
)
@click.option(
    "--where", multiple=True, metavar="KEY=VALUE", help="Only items whose metadata matches."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per item, most unusual first: id, score, outlier.",
)
def outliers_command(
    space: str,
    method: str,
    k: int,
    contamination: float | None,
    top: int | None,
    where: tuple[str, ...],
    as_json: bool,
) -> None:
    """Rank the items of SPACE by how little they fit the rest.

    \b
    Examples:
      embedspace outliers news --top 5
      embedspace outliers logs --method lof --contamination 0.01 --json
    """
    from embedspace.ops.outliers import outliers

    with Space.open(space) as opened:
        snapshot = opened.snapshot(parse_where(where))
        metric = "cosine" if opened.stamp.metric == "cosine" else "euclidean"
    ranked = outliers(snapshot, method, k, contamination, metric=metric)
    if as_json:
        emit_json(
            {"id": r.id, "score": r.score, "outlier": r.outlier}
            for r in ranked[: top or len(ranked)]
        )
        return
    content = dict(zip(snapshot.ids, snapshot.contents, strict=True))
    flagged = sum(r.outlier for r in ranked)
    print_table(
        f"Most unusual of {len(ranked)} items ({flagged} past the threshold, method {method})",
        ["rank", "id", "score", "outlier", "item"],
        [
            (n, r.id, r.score, "yes" if r.outlier else "", shorten(content[r.id], 80))
            for n, r in enumerate(ranked[: top or 20], 1)
        ],
    )


# ---------------------------------------------------------------------------- drift
def _side(
    name: str, where: tuple[str, ...], text_fields: tuple[str, ...], encoder: Any
) -> tuple[list[str], np.ndarray, list[str], Any]:
    """ids, vectors, contents and the encoder of one side: a space (optionally a slice) or
    a file embedded with ``encoder``."""
    path = resolve(name)
    if (path / DATABASE_FILE).exists():
        with Space.open(path) as opened:
            snapshot = opened.snapshot(parse_where(where))
            used = opened.stamp.encoder
        if not len(snapshot):
            raise InvalidInput(
                f"No items in '{name}'" + (" match the --where filter." if where else ".")
            )
        return snapshot.ids, snapshot.vectors, snapshot.contents, used
    if where:
        raise InvalidInput(f"--where applies to spaces; '{name}' is a file.")
    if not Path(name).is_file():
        raise InvalidInput(f"'{name}' is neither a space nor a file.")
    records = [r for r in read_records(name, text_fields=text_fields) if isinstance(r, Record)]
    if not records:
        raise InvalidInput(f"{name} holds no text rows.")
    from embedspace.encoders import get

    chosen = get(encoder)
    return (
        [r.id for r in records],
        chosen.encode([r.content for r in records], progress=True),
        [r.content for r in records],
        chosen.name,
    )


@click.command("drift")
@click.argument("reference")
@click.argument("current")
@click.option(
    "--reference-where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Slice of REFERENCE (a space) to use.",
)
@click.option(
    "--current-where", multiple=True, metavar="KEY=VALUE", help="Slice of CURRENT (a space) to use."
)
@click.option(
    "--encoder", metavar="NAME", help="Encoder for files (default: the space's, or minilm-l6)."
)
@click.option(
    "--text-field", "text_fields", multiple=True, metavar="F", help="Text column(s) of files."
)
@click.option(
    "--alpha",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Significance level.",
)
@click.option(
    "--permutations",
    default=500,
    show_default=True,
    type=click.IntRange(min=10),
    help="Permutations for the p-value.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object: drift, p_value, effect_size, most_changed.",
)
def drift_command(
    reference: str,
    current: str,
    reference_where: tuple[str, ...],
    current_where: tuple[str, ...],
    encoder: str | None,
    text_fields: tuple[str, ...],
    alpha: float,
    permutations: int,
    seed: int,
    as_json: bool,
) -> None:
    """Did the data change between REFERENCE and CURRENT? Each is a space, a slice of a
    space (--reference-where/--current-where), or a file of texts.

    \b
    Examples:
      embedspace drift tickets-june tickets-july
      embedspace drift tickets tickets --reference-where month=6 --current-where month=7
      embedspace drift last-month.csv this-week.csv --text-field message
    """
    from embedspace.ops.drift import drift_test

    spaces = [n for n in (reference, current) if (resolve(n) / DATABASE_FILE).exists()]
    default = encoder
    if default is None and spaces:
        with Space.open(spaces[0]) as opened:
            default = opened.stamp.encoder
    ref_ids, ref_vectors, _, ref_encoder = _side(
        reference, reference_where, text_fields, default or "minilm-l6"
    )
    cur_ids, cur_vectors, cur_contents, cur_encoder = _side(
        current, current_where, text_fields, default or "minilm-l6"
    )
    if ref_encoder != cur_encoder:
        raise InvalidInput(
            f"The two sides were embedded by different encoders ({ref_encoder}, "
            f"{cur_encoder}); compare like with like."
        )
    result = drift_test(ref_vectors, cur_vectors, alpha=alpha, permutations=permutations, seed=seed)
    changed = [
        {"id": cur_ids[i], "similarity": s, "content": cur_contents[i]}
        for i, s in result.most_changed
    ]
    if as_json:
        emit_json(
            [
                {
                    "drift": result.drift,
                    "p_value": result.p_value,
                    "effect_size": result.effect_size,
                    "alpha": alpha,
                    "reference_size": result.reference_size,
                    "current_size": result.current_size,
                    "most_changed": changed,
                }
            ]
        )
        return
    verdict = "DRIFT" if result.drift else "no drift detected"
    click.echo(
        f"{verdict}: p = {result.p_value:.4f} (alpha {alpha}), effect size (MMD) "
        f"{result.effect_size:.4f}; {result.reference_size} reference vs "
        f"{result.current_size} current items."
    )
    print_table(
        "Current items least like the reference",
        ["id", "similarity to nearest reference item", "item"],
        [(c["id"], c["similarity"], shorten(str(c["content"]), 80)) for c in changed],
    )


# --------------------------------------------------------------------------- ask/chat
_QA = [
    click.option(
        "-k", "k", default=3, show_default=True, type=click.IntRange(min=1), help="Answers to show."
    ),
    click.option(
        "--threshold",
        default=0.5,
        show_default=True,
        type=click.FloatRange(-1, 1),
        help="Lowest confidence of a good answer.",
    ),
    click.option(
        "--answer-field",
        default="answer",
        show_default=True,
        help="Metadata field holding the answer.",
    ),
]


def _qa(function: Any) -> Any:
    for option in reversed(_QA):
        function = option(function)
    return function


def _say(answers: list[Any], *, as_json: bool, threshold: float) -> None:
    from dataclasses import asdict

    if as_json:
        emit_json(asdict(a) for a in answers)
        return
    best = answers[0] if answers else None
    if best is None or not best.confident:
        near = (
            f" (closest: {best.score:.2f} '{shorten(best.matched_question, 60)}')" if best else ""
        )
        click.echo(f"No good answer{near}; confidence is below {threshold}.")
        return
    click.echo(f"{best.answer}\n  ({best.score:.2f}: '{shorten(best.matched_question, 70)}')")


@click.command("ask")
@click.argument("space")
@click.argument("question")
@_qa
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per answer: question, answer, matched_question, id, score, confident.",
)
def ask_command(
    space: str, question: str, k: int, threshold: float, answer_field: str, as_json: bool
) -> None:
    """Answer QUESTION from a FAQ space (questions indexed as text, answers as metadata).

    \b
    Example:
      embedspace index faq faq.csv --text-field question     # 'answer' column kept
      embedspace ask faq "how do I reset my password?"
    """
    from embedspace.ops.qa import ask

    with Space.open(space) as opened:
        answers = ask(opened, question, k=k, threshold=threshold, answer_field=answer_field)
    _say(answers, as_json=as_json, threshold=threshold)


@click.command("chat")
@click.argument("space")
@_qa
def chat_command(space: str, k: int, threshold: float, answer_field: str) -> None:
    """Ask SPACE one question after another (an empty line, 'quit' or Ctrl-D ends)."""
    from embedspace.ops.qa import ask

    with Space.open(space) as opened:
        click.echo(
            f"Ask '{opened.name}' anything ({len(opened)} known questions). "
            "Empty line or 'quit' ends."
        )
        while True:
            try:
                question = input("> ").strip()
            except EOFError:
                break
            if not question or question.lower() in ("quit", "exit"):
                break
            _say(
                ask(opened, question, k=k, threshold=threshold, answer_field=answer_field),
                as_json=False,
                threshold=threshold,
            )


COMMANDS = [
    dedup_command,
    cluster_command,
    outliers_command,
    drift_command,
    ask_command,
    chat_command,
]
