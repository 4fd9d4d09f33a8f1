"""Search evaluation: the metrics, the BEIR and CSV readers, and ``evaluate-search``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from embedspace.errors import InvalidInput
from embedspace.io.relevance import read_qrels, read_queries
from embedspace.ops.search_eval import evaluate_search, ndcg, recall, reciprocal_rank

DOCS = {
    "part": "Replacement part XK-4471 ships from the Leeds warehouse",
    "cafe": "The café on Main Street serves espresso",
    "run": "She runs every morning before work",
    "cat": "A cat sat on the mat",
}


def test_the_metrics_as_defined() -> None:
    relevant = {"b": 1.0, "d": 2.0, "x": 0.0}
    ranked = ["a", "b", "c"]
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg(ranked, relevant, 3) == pytest.approx((1 / math.log2(3)) / ideal)
    assert ndcg(["d", "b"], relevant, 10) == pytest.approx(1.0)
    assert recall(ranked, relevant, 3) == pytest.approx(0.5)
    assert recall(ranked, relevant, 1) == 0.0
    assert reciprocal_rank(ranked, relevant, 10) == pytest.approx(0.5)
    assert reciprocal_rank(["x"], relevant, 10) == 0.0  # judged, but not relevant


def _files(folder: Path) -> tuple[Path, Path]:
    queries = folder / "queries.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"_id": "q1", "text": "XK-4471"},
                {"_id": "q2", "text": "espresso"},
                {"_id": "q3", "text": "unjudged"},
            ]
        ),
        encoding="utf-8",
    )
    qrels = folder / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tpart\t1\nq2\tcafe\t2\n", encoding="utf-8")
    return queries, qrels


def test_beir_and_csv_files_read_the_same(tmp_path: Path) -> None:
    queries, qrels = _files(tmp_path)
    (tmp_path / "q.csv").write_text("id,text\nq1,XK-4471\nq2,espresso\n", encoding="utf-8")
    (tmp_path / "r.csv").write_text("query_id,doc_id\nq1,part\nq2,cafe\n", encoding="utf-8")
    assert read_queries(tmp_path / "q.csv") == {"q1": "XK-4471", "q2": "espresso"}
    assert read_queries(queries)["q2"] == "espresso"
    assert read_qrels(qrels) == {"q1": {"part": 1.0}, "q2": {"cafe": 2.0}}
    assert read_qrels(tmp_path / "r.csv") == {"q1": {"part": 1.0}, "q2": {"cafe": 1.0}}


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="No queries file"):
        read_queries(tmp_path / "missing.jsonl")
    (tmp_path / "bad.csv").write_text("query,x\nq1,y\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no corpus-id / corpus_id"):
        read_qrels(tmp_path / "bad.csv")
    (tmp_path / "grade.csv").write_text("query_id,doc_id,score\nq1,a,high\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="'high' is not a number"):
        read_qrels(tmp_path / "grade.csv")
    (tmp_path / "broken.jsonl").write_text('{"_id": "q1", \n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="row 1: is not valid JSON"):
        read_queries(tmp_path / "broken.jsonl")


def test_evaluate_search_scores_each_mode_and_the_cli_prints_them(tmp_path: Path) -> None:
    with es.Space.create("docs", encoder="fake") as space:
        space.add(list(DOCS.values()), ids=list(DOCS))
        found = evaluate_search(
            space,
            {"q1": "XK-4471", "q2": "espresso", "q3": "nothing judged"},
            {"q1": {"part": 1.0}, "q2": {"cafe": 1.0}},
            k=10,
        )
    assert found.queries == 2 and found.skipped == 1
    keyword = next(row for row in found.rows if row.mode == "keyword")
    assert keyword.ndcg == pytest.approx(1.0) and keyword.mrr == pytest.approx(1.0)
    assert [row.mode for row in found.rows] == ["dense", "keyword", "hybrid"]
    assert all(row.recall_100 == pytest.approx(1.0) for row in found.rows)  # 4 docs, k=100
    queries, qrels = _files(tmp_path)
    runner = CliRunner()
    args = ["evaluate-search", "docs", "--queries", str(queries), "--qrels", str(qrels)]
    result = runner.invoke(main, [*args, "--mode", "keyword", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["mode"] == "keyword" and row["ndcg"] == pytest.approx(1.0)
    assert row["queries"] == 2
    table = runner.invoke(main, args)
    assert table.exit_code == 0 and "nDCG@10" in table.output and "hybrid" in table.output
    other = tmp_path / "other.tsv"
    other.write_text("query-id\tcorpus-id\tscore\nzz\tpart\t1\n", encoding="utf-8")
    refused = runner.invoke(main, [*args[:-1], str(other)])
    assert refused.exit_code == 1 and "query ids differ" in refused.output


def test_non_utf8_and_non_object_query_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("id,text\nq1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_queries(tmp_path / "latin.csv")
    (tmp_path / "strings.jsonl").write_text('"just a string"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="row 1: is not an object"):
        read_queries(tmp_path / "strings.jsonl")
