"""Fuzzy record matching: ``match`` across two tables, ``dedup-records`` within one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from embedspace.cli import main
from embedspace.errors import InvalidInput
from embedspace.ops.record_match import dedup_records, groups, match_records

pytest.importorskip("sklearn")
pytest.importorskip("rapidfuzz")

PEOPLE = [
    {"id": "a1", "name": "Jonathan Smith", "city": "Springfield"},
    {"id": "a2", "name": "Maria Garcia", "city": "Portland"},
    {"id": "a3", "name": "Wei Zhang", "city": "Boston"},
    {"id": "a4", "name": "Olga Petrova", "city": "Denver"},
]
OTHERS = [
    {"id": "b1", "name": "Smith, Jonathon", "city": "Springfeld"},
    {"id": "b2", "name": "Zhang Wei", "city": "boston"},
    {"id": "b3", "name": "Peter Jones", "city": "Austin"},
    {"id": "b4", "name": "Maria Garcia-Lopez", "city": "Portland"},
]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_matching_survives_typos_reordering_and_case() -> None:
    pairs = match_records(PEOPLE, OTHERS, ["name", "city"], threshold=0.8)
    found = {(PEOPLE[p.left]["id"], OTHERS[p.right]["id"]) for p in pairs}
    assert found == {("a1", "b1"), ("a3", "b2"), ("a2", "b4")}  # not Petrova, not Jones
    assert all(0.8 <= p.score <= 1 for p in pairs)
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    strict = match_records(PEOPLE, OTHERS, ["name", "city"], threshold=0.95)
    assert {(p.left, p.right) for p in strict} == {(2, 1)}  # only the exact reordering


def test_dedup_groups_and_errors() -> None:
    rows = PEOPLE + [
        dict(OTHERS[0], id="a5"),
        dict(OTHERS[1], id="a6"),
        {"id": "a7", "name": "Jonathan Smith", "city": "Springfield"},
    ]
    pairs = dedup_records(rows, ["name", "city"], threshold=0.8)
    assert all(p.left < p.right for p in pairs)
    assert groups(pairs, len(rows)) == [[0, 4, 6], [2, 5]]
    with pytest.raises(InvalidInput, match="no field 'phone'"):
        match_records(PEOPLE, OTHERS, ["phone"])
    with pytest.raises(InvalidInput, match="empty"):
        match_records([], OTHERS, ["name"])
    with pytest.raises(InvalidInput, match="0 to 1"):
        match_records(PEOPLE, OTHERS, ["name"], threshold=2)


def test_cli_match_and_dedup(tmp_path: Path) -> None:
    left = _write(tmp_path / "left.csv", PEOPLE)
    right = _write(tmp_path / "right.csv", OTHERS)
    result = run(
        "match", str(left), str(right), "--on", "name,city", "--threshold", "0.8", "--json"
    )
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(p["left"], p["right"]) for p in pairs} == {("a1", "b1"), ("a3", "b2"), ("a2", "b4")}
    table = run("match", str(left), str(right), "--on", "name,city")
    assert "Springfeld" in table.stdout
    both = _write(tmp_path / "both.csv", PEOPLE + OTHERS)
    dedup = run("dedup-records", str(both), "--on", "name,city", "--threshold", "0.8", "--json")
    found = [json.loads(line) for line in dedup.stdout.splitlines()]
    assert sorted(sorted(g["members"]) for g in found) == [["a1", "b1"], ["a2", "b4"], ["a3", "b2"]]
    missing = run("match", str(left), str(right), "--on", "nmae")
    assert (
        missing.exit_code == 1 and "no field 'nmae'" in missing.stderr and "name" in missing.stderr
    )


def test_a_text_encoder_adds_meaning_to_the_score() -> None:
    import numpy as np
    from rapidfuzz import fuzz

    import embedspace as es

    plain = {
        (p.left, p.right): p.score
        for p in match_records(PEOPLE, OTHERS, ["name", "city"], threshold=0)
    }
    mixed = match_records(
        PEOPLE, OTHERS, ["name", "city"], threshold=0, encoder="fake", text_weight=0.5
    )
    encoder = es.encoders.get("fake")
    for pair in mixed[:3]:
        a = " | ".join(
            " ".join(str(PEOPLE[pair.left][f]).lower().split()) for f in ("name", "city")
        )
        b = " | ".join(
            " ".join(str(OTHERS[pair.right][f]).lower().split()) for f in ("name", "city")
        )
        va, vb = encoder.encode([a, b])
        cosine = float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))
        fields = np.mean(
            [
                fuzz.token_sort_ratio(x, y) / 100
                for x, y in zip(a.split(" | "), b.split(" | "), strict=True)
            ]
        )
        assert pair.score == pytest.approx(0.5 * fields + 0.5 * max(cosine, 0), abs=1e-5)
        assert plain[(pair.left, pair.right)] == pytest.approx(fields, abs=1e-5)
    with pytest.raises(InvalidInput, match="0 to 1"):
        match_records(PEOPLE, OTHERS, ["name"], encoder="fake", text_weight=1.5)
    with pytest.raises(InvalidInput, match="does not embed text"):
        match_records(PEOPLE, OTHERS, ["name"], encoder="fake-image-only")
