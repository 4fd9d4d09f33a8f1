"""``embedspace sql``: SQL over spaces (DuckDB), with embed(), cosine() and search()."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

import click

from embedspace.cli.output import emit_json, print_table, shorten
from embedspace.ops.sql import sql


@click.command("sql")
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
def sql_command(query: str, as_json: bool, as_csv: bool) -> None:
    """Run a SQL QUERY (DuckDB) where every space is a table by its name: id, content,
    one column per metadata field and vector FLOAT[dim].

    \b
    Functions:
      embed(text [, encoder or space])   the text's vector (the space's encoder)
      cosine(a, b)  dot(a, b)  euclidean(a, b)
      search(space, query, k [, mode [, where-json]])  a table: rank, id, score,
                                         content, metadata (as `embedspace search`)
    A filter inside search() (or WHERE before ORDER BY cosine) never loses recall; a
    WHERE on search()'s rows filters its top k.

    \b
    Examples:
      embedspace sql "SELECT id, score FROM search('news', 'food', 5)"
      embedspace sql "SELECT id, content FROM news
          ORDER BY cosine(vector, embed('food', 'news')) DESC LIMIT 3"
      embedspace sql "SELECT s.id, p.price FROM search('shop', 'boots', 10) s
          JOIN read_csv('prices.csv') p USING (id) WHERE p.price < 100" --csv
    """
    if as_json and as_csv:
        raise click.UsageError("Choose one of --json and --csv.")
    table = sql(query)
    rows = table.to_pylist()
    if as_json:
        emit_json(rows)
    elif as_csv:
        _write_csv(table.column_names, rows)
    else:
        print_table(None, table.column_names, ([_short(r[c]) for c in r] for r in rows))


def _short(value: Any) -> Any:
    if isinstance(value, list) and len(value) > 4:  # a vector: its first values and size
        head = ", ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in value[:3])
        return f"[{head}, … ({len(value)} values)]"
    return shorten(str(value)) if isinstance(value, str) else value


def _write_csv(columns: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(json.dumps(v) if isinstance(v, list | dict) else v for v in row.values())


COMMANDS = [sql_command]
