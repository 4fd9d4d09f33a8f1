"""The multitool over HTTP, in-process with the fake encoder: dedup, cluster, outliers,
zero-shot classify and drift answer what the ops answer, and refuse cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import has

import embedspace as es
from embedspace.ops.classify import classify_space
from embedspace.ops.dedup import find_duplicates
from embedspace.ops.outliers import find_outliers

pytestmark = pytest.mark.skipif(not has("fastapi"), reason="needs embedspace[serve]")

if has("fastapi"):
    from fastapi.testclient import TestClient

    from embedspace.server import ServerSettings, create_app

FAKE = dict(models=("fake",), default_model="fake")
PETS = ["a cat sat on the mat", "a dog chased the cat", "the cat and the dog slept"]
MONEY = ["stocks fell sharply", "the market rallied", "bond yields rose again"]


def _client(**settings: Any) -> TestClient:
    return TestClient(create_app(ServerSettings(**{**FAKE, **settings})))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with es.Space.create("news", encoder="fake") as space:
        texts = [*PETS, "a cat sat on the mat!", *MONEY]
        space.add(
            texts,
            ids=["cat", "dog", "sleep", "cat-copy", "stocks", "market", "bonds"],
            metadata=[{"topic": "pets"}] * 4 + [{"topic": "money"}] * 3,
        )
    with _client() as test_client:
        yield test_client


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def test_dedup_groups_the_copies(client: TestClient) -> None:
    expected = find_duplicates(es.Space.open("news"), threshold=0.5)
    found = client.post("/spaces/news/dedup", json={"threshold": 0.5}).json()
    assert found["items"] == 7 and found["threshold"] == 0.5
    assert [g["members"] for g in found["groups"]] == [g.members for g in expected.groups]
    pets = client.post(
        "/spaces/news/dedup", json={"threshold": 0.5, "conditions": ["topic=money"]}
    ).json()
    assert pets["items"] == 3
    _error(client.post("/spaces/news/dedup", json={"threshold": 2}), 422)


def test_cluster_reads_and_writes_only_with_the_token() -> None:
    pytest.importorskip("sklearn")
    with es.Space.create("news", encoder="fake") as space:
        space.add([*PETS, *MONEY], ids=["a", "b", "c", "d", "e", "f"])
    with _client(token="secret", read_only_token="look") as client:
        look = {"Authorization": "Bearer look"}
        found = client.post("/spaces/news/cluster", json={"k": 2}, headers=look).json()
        assert found["items"] == 6 and len(found["clusters"]) == 2
        assert sum(c["size"] for c in found["clusters"]) == 6
        assert {a["id"] for a in found["assignments"]} == set("abcdef")
        assert all(c["central"][0]["content"] for c in found["clusters"])
        write = {"k": 2, "write_field": "group"}
        _error(client.post("/spaces/news/cluster", json=write, headers=look), 403)
        written = client.post(
            "/spaces/news/cluster", json=write, headers={"Authorization": "Bearer secret"}
        ).json()
        assert written["written"] == "group"
        _error(client.post("/spaces/news/cluster", json={}, headers=look), 400)
    with es.Space.open("news") as space:
        labels = {a["id"]: a["cluster"] for a in written["assignments"]}
        assert {i.id: i.metadata["group"] for i in space.get_many(list("abcdef"))} == labels


def test_outliers_rank_the_odd_one_first(client: TestClient) -> None:
    with es.Space.open("news") as space:
        space.add(["zzzz qqqq xxxx"], ids=["odd"])
    expected = find_outliers(es.Space.open("news"))
    found = client.post("/spaces/news/outliers", json={"top": 3}).json()
    assert found["method"] == "knn" and found["items"] == 8
    assert [r["id"] for r in found["ranked"]] == [r.id for r in expected.ranked[:3]]
    assert found["ranked"][0]["content"]
    _error(client.post("/spaces/news/outliers", json={"method": "magic"}), 422)


def test_classify_labels_every_item(client: TestClient) -> None:
    found = client.post("/spaces/news/classify", json={"labels": ["cat", "market"]}).json()
    expected = classify_space(es.Space.open("news"), ["cat", "market"])
    assert found["labels"] == [{"id": c.id, "label": c.label, "score": c.score} for c in expected]
    _error(client.post("/spaces/news/classify", json={"labels": ["cat", "cat"]}), 400)
    _error(client.post("/spaces/news/classify", json={"labels": ["a", "b"], "template": "x"}), 400)


def test_drift_between_two_served_spaces(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    for name, shift in (("june", 0.0), ("july", 3.0)):
        vectors = rng.normal(size=(40, 64)).astype(np.float32)
        vectors[:, 0] += shift
        with es.Space.create(name, encoder="fake") as space:
            space.add([f"{name} {i}" for i in range(40)], vectors=vectors)
    found = client.post(
        "/drift", json={"reference": "june", "current": "july", "permutations": 50}
    ).json()
    assert found["drift"] is True and found["reference_size"] == 40
    assert found["most_changed"][0]["content"].startswith("july")
    same = client.post(
        "/drift", json={"reference": "june", "current": "june", "permutations": 50}
    ).json()
    assert same["drift"] is False
    sliced = client.post(
        "/drift",
        json={
            "reference": "news",
            "current": "news",
            "reference_where": ["topic=pets"],
            "current_where": {"topic": "money"},
            "permutations": 20,
        },
    )
    assert _error(sliced, 400)["message"].startswith("Need at least 5 items")
    _error(client.post("/drift", json={"reference": "june", "current": "nowhere"}), 404)
    with _client(spaces=("june",)) as fixed:
        _error(fixed.post("/drift", json={"reference": "june", "current": "july"}), 404)
