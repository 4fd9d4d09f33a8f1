"""The application calls the CLI faces make (one per command), on spaces and files built
with the deterministic fake encoder; progress arrives as ``on_progress`` stages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.errors import InvalidInput
from embedspace.io.labelled import read_captioned_images, read_labelled_pairs
from embedspace.io.vector_files import check_vector_file, write_vectors
from embedspace.io.vocabulary import read_vocabulary
from embedspace.ops.classify import classify_target
from embedspace.ops.drift import compare
from embedspace.ops.embedding import embed_items
from embedspace.ops.record_files import dedup_file, match_files, parse_fields
from embedspace.ops.typos import fix_text

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
SPORT = [f"football tennis match report {day}" for day in DAYS]
FOOD = [f"pasta bread recipe kitchen {day}" for day in DAYS]


class Stages:
    """Records the stages an op reports."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.seen or self.seen[-1] != stage:
            self.seen.append(stage)


@pytest.fixture
def news() -> Iterator[es.Space]:
    space = es.Space.create("news", encoder="fake")
    texts = [*SPORT, *FOOD, SPORT[0], "quantum chromodynamics lattice gauge theory"]
    ids = [f"s{i}" for i in range(6)] + [f"f{i}" for i in range(6)] + ["copy", "odd"]
    months = [{"month": 1 + i % 2} for i in range(len(ids))]
    space.add(texts, ids=ids, metadata=months)
    yield space
    space.close()


def test_space_ops_report_their_stage_and_keep_the_snapshot(news: es.Space) -> None:
    pytest.importorskip("sklearn")
    from embedspace.ops.cluster import cluster_space
    from embedspace.ops.dedup import calibrate_space, find_duplicates
    from embedspace.ops.outliers import find_outliers

    stages = Stages()
    found = find_duplicates(news, threshold=0.99, on_progress=stages)
    assert [sorted(g.members) for g in found.groups] == [["copy", "s0"]]
    assert len(found.snapshot) == 14 and found.threshold == 0.99
    sliced = find_duplicates(news, threshold=0.99, where={"month": 2})
    assert len(sliced.snapshot) == 7
    calibration = calibrate_space(news, on_progress=stages)
    assert not calibration.labelled and calibration.rows[0].threshold == 0.99
    clusters = cluster_space(news, 2, write_field="group", on_progress=stages)
    assert clusters.written == "group" and clusters.unclustered == 0
    assert news.get("s0").metadata["group"] == news.get("s1").metadata["group"]  # type: ignore[union-attr]
    ranked = find_outliers(news, on_progress=stages)
    assert ranked.method == "knn" and ranked.ranked[0].id == "odd"
    assert stages.seen == [
        "Finding duplicates among 14 items",
        "Scoring pairs among 14 items",
        "Clustering 14 items",
        "Scoring 14 items (knn)",
    ]


def test_calibration_reads_labelled_pairs(news: es.Space, tmp_path: Path) -> None:
    from embedspace.ops.dedup import calibrate_space

    labels = tmp_path / "pairs.csv"
    labels.write_text("first,second,duplicate\ns0,copy,1\ns0,f0,0\n")
    assert read_labelled_pairs(labels) == [("s0", "copy", True), ("s0", "f0", False)]
    calibration = calibrate_space(news, labels=labels)
    assert calibration.labelled and calibration.rows[0].precision == 1.0
    labels.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="needs columns first, second, duplicate"):
        calibrate_space(news, labels=labels)


def test_drift_compares_spaces_slices_and_files(news: es.Space, tmp_path: Path) -> None:
    stages = Stages()
    sliced = compare("news", "news", reference_where={"month": 1}, current_where={"month": 2})
    assert sliced.result.reference_size == 7 and len(sliced.most_changed) == 7
    file = tmp_path / "today.csv"
    file.write_text("text\n" + "\n".join(FOOD + SPORT) + "\n")
    # The file is embedded with the space's encoder (fake), by default.
    mixed = compare("news", str(file), permutations=50, on_progress=stages)
    assert mixed.result.current_size == 12
    assert stages.seen == ["Embedding with fake", "Testing for drift (50 permutations)"]
    with pytest.raises(InvalidInput, match="different encoders"):
        compare("news", str(file), encoder="hashing")
    with pytest.raises(InvalidInput, match="is a file"):
        compare("news", str(file), current_where={"month": 1})
    with pytest.raises(InvalidInput, match="neither a space nor a file"):
        compare("news", str(tmp_path / "missing.csv"))


def test_classify_target_decides_space_folder_or_few_shot(news: es.Space, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="one of the two"):
        classify_target("news")
    labelled = classify_target("news", labels="football,pasta")
    assert {r.id: r.label for r in labelled}["s3"] == "football"
    with pytest.raises(InvalidInput, match="works on a space"):
        classify_target(str(tmp_path), examples=tmp_path / "x.csv")
    with pytest.raises(InvalidInput, match="No readable images"):
        classify_target(str(tmp_path), labels="a,b")
    with pytest.raises(InvalidInput, match="neither a space nor a folder"):
        classify_target(str(tmp_path / "nothing"), labels="a,b")


def test_record_files_match_and_group(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    left, right = tmp_path / "left.csv", tmp_path / "right.csv"
    left.write_text("id,name\n1,Acme Corporation\n2,Globex Limited\n3,Acme Corporatoin\n")
    right.write_text("name\nGlobex Ltd\nAcme Corporation\n")
    stages = Stages()
    found = match_files(left, right, "name", threshold=0.6, on_progress=stages)
    pairs = {(found.left_ids[p.left], found.right_ids[p.right]) for p in found.pairs}
    assert ("1", "2") in pairs and found.fields == ["name"]
    assert stages.seen == ["Matching 3 with 2 records"]
    groups = dedup_file(left, "name", threshold=0.8)
    assert [[groups.ids[m] for m in g.members] for g in groups.groups] == [["1", "3"]]
    assert 0.8 <= groups.groups[0].score <= 1.0
    with pytest.raises(InvalidInput, match="--on needs at least one field"):
        parse_fields(" , ")
    with pytest.raises(InvalidInput, match="no 'code' field"):
        dedup_file(left, "name", id_field="code")


def test_embed_items_and_vector_files(csv_file: Path, tmp_path: Path) -> None:
    found = embed_items(["first text"], [csv_file], encoder="fake")
    assert [r.id for r in found.records] == ["0", "a", "b", "c"]
    assert found.vectors.shape == (4, 64) and found.vectors.dtype == np.float32
    with pytest.raises(InvalidInput, match="Nothing to embed"):
        embed_items([], encoder="fake")
    with pytest.raises(InvalidInput):
        check_vector_file(tmp_path / "vectors.txt")
    for name in ("v.npy", "v.jsonl", "v.parquet"):
        check_vector_file(tmp_path / name)
        write_vectors(tmp_path / name, found.records, found.vectors)
    assert np.array_equal(np.load(tmp_path / "v.npy"), found.vectors)
    rows = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert rows[1]["id"] == "a" and len(rows[1]["vector"]) == 64


def test_vocabulary_files_and_fixing_with_them(tmp_path: Path) -> None:
    pytest.importorskip("rapidfuzz")
    words = tmp_path / "words.txt"
    words.write_text("the 100\nquick 10\nfox 5\n\n")
    assert read_vocabulary(words) == (["the", "quick", "fox"], [100, 10, 5])
    assert fix_text("teh quikc fox", vocabulary=words).text == "the quick fox"
    words.write_text("the 100\nquick\n")
    with pytest.raises(InvalidInput, match="on every line or on none"):
        read_vocabulary(words)
    with pytest.raises(InvalidInput, match="No vocabulary file"):
        read_vocabulary(tmp_path / "none.txt")


def test_captioned_images_are_checked(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(b"not really")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image,caption\ncat.png, a cat \n")
    assert read_captioned_images(pairs, tmp_path, "image", "caption") == (
        [str(tmp_path / "cat.png")],
        ["a cat"],
    )
    with pytest.raises(InvalidInput, match="No folder at"):
        read_captioned_images(pairs, tmp_path / "nope", "image", "caption")
    pairs.write_text("image,caption\ndog.png,a dog\n")
    with pytest.raises(InvalidInput, match="does not exist"):
        read_captioned_images(pairs, tmp_path, "image", "caption")


def test_pictures_check_before_work(news: es.Space, tmp_path: Path) -> None:
    from embedspace.render import draw_heatmap, draw_map

    with pytest.raises(InvalidInput, match=r"\.html or \.png"):
        draw_heatmap(["a", "b"], tmp_path / "x.svg", encoder="fake")
    with pytest.raises(InvalidInput, match="at least two sentences"):
        draw_heatmap(["a"], tmp_path / "x.png", encoder="fake")
    with pytest.raises(InvalidInput, match="up to 60"):
        draw_heatmap([str(i) for i in range(61)], tmp_path / "x.png", encoder="fake")
    with pytest.raises(InvalidInput, match="metadata field 'topic'; fields: month"):
        draw_map("news", tmp_path / "x.png", colour="topic")
    pytest.importorskip("matplotlib")
    stages = Stages()
    picture = draw_map("news", tmp_path / "map.png", colour="month", on_progress=stages)
    assert picture.count == 14 and picture.path.stat().st_size > 0
    assert picture.title == "news: 14 of 14 items, PCA 2D"
    assert stages.seen == ["Projecting 14 items with PCA"]
