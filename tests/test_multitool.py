"""The multitool on spaces built with the deterministic fake encoder (hashed words), where
the right answers are known by construction."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import embedspace as es
from embedspace.cli import main
from embedspace.errors import InvalidInput
from embedspace.ops.cluster import cluster, keywords
from embedspace.ops.dedup import calibrate, duplicate_groups
from embedspace.ops.drift import drift_test
from embedspace.ops.outliers import outlier_scores, outliers, threshold_of

pytest.importorskip("sklearn")

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
# With hashed words, texts sharing four of five words are ~0.8 similar, unrelated ones ~0.
SPORT = [f"football tennis match report {day}" for day in DAYS]
FOOD = [f"pasta bread recipe kitchen {day}" for day in DAYS]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def news() -> es.Space:
    space = es.Space.create("news", encoder="fake")
    texts = (
        SPORT
        + FOOD
        + [
            SPORT[0],
            SPORT[0] + " today",  # 0.92 similar to SPORT[0]
            "quantum chromodynamics lattice gauge theory",
        ]
    )
    ids = [f"s{i}" for i in range(6)] + [f"f{i}" for i in range(6)] + ["copy", "near", "odd"]
    topics = ["sport"] * 6 + ["food"] * 6 + ["sport", "sport", "physics"]
    space.add(
        texts, ids=ids, metadata=[{"topic": t, "month": 1 + i % 2} for i, t in enumerate(topics)]
    )
    yield space
    space.close()


def test_dedup_finds_exact_and_near_copies(news: es.Space) -> None:
    groups = duplicate_groups(news.snapshot(), threshold=0.88)
    assert len(groups) == 1 and sorted(groups[0].members) == ["copy", "near", "s0"]
    assert not groups[0].exact and 0.88 <= groups[0].score < 1.0
    exact = duplicate_groups(news.snapshot(), threshold=0.999)
    assert [sorted(g.members) for g in exact] == [["copy", "s0"]] and exact[0].exact
    rows = calibrate(
        news.snapshot(),
        [("s0", "copy", True), ("s0", "near", True), ("s0", "s2", False)],
        thresholds=(0.99, 0.88, 0.3),
    )
    by = {r.threshold: r for r in rows}
    assert by[0.99].precision == 1.0 and by[0.99].recall == 0.5
    assert by[0.88].recall == 1.0 and by[0.88].pairs >= 3
    assert by[0.3].pairs >= by[0.88].pairs
    result = run("dedup", "news", "--threshold", "0.88", "--json")
    assert [sorted(json.loads(line)["members"]) for line in result.stdout.splitlines()] == [
        ["copy", "near", "s0"]
    ]
    assert "threshold" in run("dedup", "news", "--calibrate").stdout


def test_clusters_separate_topics_with_keywords(news: es.Space) -> None:
    snapshot = news.snapshot(where={"topic": ["sport", "food"]})
    result = cluster(snapshot, 2)
    labels = dict(zip(result.ids, result.labels, strict=True))
    assert (
        len({labels[f"s{i}"] for i in range(6)}) == 1
        and len({labels[f"f{i}"] for i in range(6)}) == 1
    )
    assert labels["s0"] != labels["f0"]
    words = {w for c in result.clusters for w in c.keywords}
    assert {"football", "tennis"} & words and {"pasta", "bread", "recipe", "garlic"} & words
    assert keywords(["a b", "c d"], np.array([-1, -1])) == {}
    with pytest.raises(InvalidInput, match="number of clusters"):
        cluster(snapshot)
    written = run(
        "cluster", "news", "-k", "2", "--write", "group", "--where", "topic=food", "--json"
    )
    assert written.exit_code == 0, written.output
    assert len(written.stdout.splitlines()) == 6 and set(
        json.loads(written.stdout.splitlines()[0])
    ) == {"id", "cluster"}
    assert "group" in news.get("f0").metadata and "group" not in news.get("s0").metadata  # type: ignore[union-attr]
    table = run("cluster", "news", "--auto", "--min-cluster-size", "3")
    assert table.exit_code == 0 and "clusters of 15 items" in table.stdout
    # a field of other values is not replaced by accident; cluster numbers may be again
    refused = run("cluster", "news", "-k", "2", "--write", "topic")
    assert refused.exit_code != 0 and "--overwrite" in refused.stderr
    assert news.get("f0").metadata["topic"] == "food"  # type: ignore[union-attr]
    again = run("cluster", "news", "-k", "3", "--write", "group", "--where", "topic=food")
    assert again.exit_code == 1 and "already have a metadata field 'group'" in again.stderr
    again = run("cluster", "news", "-k", "3", "--write", "group", "--overwrite")
    assert again.exit_code == 0, again.output
    assert "internal field" in run("cluster", "news", "-k", "2", "--write", "_passage").stderr
    replaced = run("cluster", "news", "-k", "2", "--write", "topic", "--overwrite")
    assert replaced.exit_code == 0 and isinstance(news.get("f0").metadata["topic"], int)  # type: ignore[union-attr]
    nothing = run("cluster", "news", "-k", "2", "--where", "topic=nosuch")
    assert "No item of space 'news' matches the filter" in nothing.stderr
    lonely = run("cluster", "news", "--auto", "--min-cluster-size", "20")
    assert lonely.exit_code == 0 and "smaller --min-cluster-size" in lonely.stderr


def test_outliers_rank_the_odd_one_first(news: es.Space) -> None:
    for method in ("knn", "lof", "iforest"):
        ranked = outliers(news.snapshot(), method=method, k=3)
        assert ranked[0].id == "odd", (method, ranked[:3])
    assert [r.outlier for r in outliers(news.snapshot(), k=3, contamination=0.1)][:1] == [True]
    scores = np.array([1.0] * 20 + [5.0])
    assert threshold_of(scores) < 5.0 and threshold_of(scores, 0.1) <= 5.0
    with pytest.raises(InvalidInput, match="Unknown method"):
        outlier_scores(news.snapshot().vectors, "magic")
    result = run("outliers", "news", "-k", "3", "--top", "2", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["id"] == "odd" and set(rows[0]) == {"id", "score", "outlier"} and len(rows) == 2


def test_drift_detects_a_shift_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 16))
    same = rng.normal(size=(300, 16))
    shifted = rng.normal(size=(300, 16)) + np.eye(16)[0] * 1.5
    calm = drift_test(base, same, permutations=200)
    moved = drift_test(base, shifted, permutations=200)
    assert not calm.drift and calm.p_value > 0.05
    assert moved.drift and moved.p_value < 0.01 and moved.effect_size > calm.effect_size
    assert len(moved.most_changed) == 10
    with pytest.raises(InvalidInput, match="same dim"):
        drift_test(base, rng.normal(size=(10, 8)))


def test_drift_cli_on_slices_and_files(news: es.Space, tmp_path: Path) -> None:
    result = run(
        "drift",
        "news",
        "news",
        "--reference-where",
        "topic=sport",
        "--current-where",
        "topic=food",
        "--json",
        "--permutations",
        "100",
    )
    answer = json.loads(result.stdout)
    assert answer["drift"] is True and answer["p_value"] < 0.05 and len(answer["most_changed"]) == 6
    (tmp_path / "a.txt").write_text("\n".join(SPORT * 3))
    (tmp_path / "b.txt").write_text("\n".join(list(reversed(SPORT)) * 3))
    calm = json.loads(
        run(
            "drift", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "--encoder", "fake", "--json"
        ).stdout
    )
    assert calm["drift"] is False
    wrong = run(
        "drift",
        "news",
        str(tmp_path / "a.txt"),
        "--reference-where",
        "topic=sport",
        "--encoder",
        "hashing",
    )
    assert wrong.exit_code == 1 and "different encoders" in wrong.stderr


def test_ask_and_chat_answer_from_a_faq(tmp_path: Path) -> None:
    faq = tmp_path / "faq.csv"
    with faq.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer"])
        writer.writerow(["how do I reset my password", "Use the 'forgot password' link."])
        writer.writerow(["what are your opening hours", "9 to 5, Monday to Friday."])
        writer.writerow(["where is the office", "Main Street 1."])
    assert (
        run("index", "faq", str(faq), "--text-field", "question", "--encoder", "fake").exit_code
        == 0
    )
    best = json.loads(run("ask", "faq", "reset password how", "--json").stdout.splitlines()[0])
    assert best["answer"] == "Use the 'forgot password' link." and best["confident"] is True
    unsure = run("ask", "faq", "zebra giraffe elephant", "--threshold", "0.9")
    assert "No good answer" in unsure.stdout
    chat = CliRunner().invoke(main, ["chat", "faq"], input="what are your opening hours\nquit\n")
    assert chat.exit_code == 0 and "9 to 5" in chat.stdout
    es.Space.create("plain", encoder="fake").add(["a text"])
    missing = run("ask", "plain", "a text")
    assert missing.exit_code == 1 and "no 'answer' field" in missing.stderr


def test_few_shot_and_embeddings_as_features(news: es.Space, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    train = tmp_path / "labelled.csv"
    with train.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(
            [
                ["football news", "sport"],
                ["tennis news", "sport"],
                ["pasta recipe", "food"],
                ["bread recipe", "food"],
            ]
        )
    result = run("classify", "news", "--train", str(train), "--json")
    labels = {r["id"]: r["label"] for r in map(json.loads, result.stdout.splitlines())}
    assert all(labels[f"s{i}"] == "sport" for i in range(6)) and all(
        labels[f"f{i}"] == "food" for i in range(6)
    )
    neither = run("classify", "news")
    assert neither.exit_code == 1 and "one of the two" in neither.stderr
    pipeline = make_pipeline(es.EmbeddingTransformer("fake"), LogisticRegression())
    pipeline.fit(SPORT + FOOD, ["sport"] * 6 + ["food"] * 6)
    assert list(pipeline.predict(["tennis and football", "garlic pasta"])) == ["sport", "food"]
    assert es.EmbeddingTransformer("fake").fit_transform(["a", "b"]).shape == (2, 64)


def test_pictures(news: es.Space, tmp_path: Path) -> None:
    for name in ("heat.png", "heat.html"):
        made = run(
            "heatmap",
            "a cat",
            "a kitten",
            "stock markets fall",
            "-o",
            str(tmp_path / name),
            "--encoder",
            "fake",
        )
        assert made.exit_code == 0, made.output
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"
    for name, extra in (
        ("map.html", ["--color", "topic"]),
        ("map.png", ["--method", "tsne", "--dims", "3"]),
    ):
        made = run("map", "news", "-o", str(tmp_path / name), *extra)
        assert made.exit_code == 0, made.output
    html = (tmp_path / "map.html").read_text()
    assert "quantum chromodynamics" in html and "physics" in html
    bad = run("map", "news", "-o", str(tmp_path / "m.html"), "--color", "nope")
    assert bad.exit_code == 1 and "topic" in bad.stderr
    one = run("heatmap", "alone", "-o", str(tmp_path / "h.png"))
    assert one.exit_code == 1 and "at least two" in one.stderr


@pytest.mark.slow
def test_umap_map(news: es.Space, tmp_path: Path) -> None:
    pytest.importorskip("umap")
    made = run(
        "map", "news", "-o", str(tmp_path / "umap.png"), "--method", "umap", "--color", "topic"
    )
    assert made.exit_code == 0, made.output
    assert (tmp_path / "umap.png").read_bytes()[:4] == b"\x89PNG"
