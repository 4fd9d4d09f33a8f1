"""The routes behind the web page, in-process with the fake encoders: the map of a space,
the sentence heatmap, FAQ answers, recommendations from a two-tower model, plotly.js."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import fail, has

import embedspace as es

pytestmark = pytest.mark.skipif(not has("fastapi"), reason="needs embedspace[serve]")

if has("fastapi"):
    from fastapi.testclient import TestClient

    from embedspace.server import ServerSettings, create_app

FAKE = dict(models=("fake",), default_model="fake")
TOPICS = ("pets", "money", "space")


def _client(**settings: Any) -> TestClient:
    return TestClient(create_app(ServerSettings(**{**FAKE, **settings})))


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.fixture
def client() -> Iterator[TestClient]:
    with es.Space.create("news", encoder="fake") as space:
        space.add(
            [f"item {i} about {TOPICS[i % 3]}" for i in range(30)],
            ids=[f"n{i}" for i in range(30)],
            metadata=[{"topic": TOPICS[i % 3], "n": i} for i in range(30)],
        )
    with es.Space.create("faq", encoder="fake") as space:
        space.add(
            ["how do I reset my password", "where is my order", "can I pay by card"],
            ids=["reset", "order", "card"],
            metadata=[
                {"answer": "Use the 'forgot password' link."},
                {"answer": "See 'My orders'."},
                {"answer": "Yes, every major card."},
            ],
        )
    with _client() as test_client:
        yield test_client


def test_map_projects_a_space_coloured_by_a_field(client: TestClient) -> None:
    flat = client.get("/spaces/news/map", params={"color": "topic"}).json()
    assert (flat["dims"], flat["method"], flat["total"], flat["shown"]) == (2, "pca", 30, 30)
    assert flat["sampled"] is False and flat["fields"] == ["n", "topic"]
    assert len(flat["coordinates"]) == 30 and all(len(p) == 2 for p in flat["coordinates"])
    assert set(flat["colors"]) == set(TOPICS)
    assert flat["texts"][flat["ids"].index("n4")] == "item 4 about money"
    deep = client.get("/spaces/news/map", params={"dims": 3, "limit": 10}).json()
    assert deep["sampled"] is True and deep["shown"] == 10 and deep["total"] == 30
    assert all(len(p) == 3 for p in deep["coordinates"]) and deep["colors"] is None
    again = client.get("/spaces/news/map", params={"dims": 3, "limit": 10}).json()
    assert again["ids"] == deep["ids"]  # the same sample every time
    pets = client.get("/spaces/news/map", params={"where": "topic=pets"}).json()
    assert pets["total"] == 10
    wrong = _error(client.get("/spaces/news/map", params={"color": "colour"}), 400)
    assert "fields: n, topic" in wrong["message"]
    _error(client.get("/spaces/news/map", params={"method": "magic"}), 422)
    _error(client.get("/spaces/nowhere/map"), 404)


def test_heatmap_scores_every_pair(client: TestClient) -> None:
    texts = ["a cat sat", "a cat sat on a mat", "stocks fell"]
    body = client.post("/heatmap", json={"texts": texts}).json()
    assert body["model"] == "fake" and body["texts"] == texts
    scores = np.array(body["scores"])
    expected = es.similarity_matrix(texts, encoder="fake")
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    np.testing.assert_allclose(np.diag(scores), 1.0, atol=1e-4)
    too_many = _error(client.post("/heatmap", json={"texts": [str(i) for i in range(61)]}), 400)
    assert "up to 60" in too_many["message"]
    _error(client.post("/heatmap", json={"texts": ["a", "b"], "model": "gpt-4"}), 400)


def test_ask_answers_with_confidence_or_says_it_has_none(client: TestClient) -> None:
    sure = client.post("/spaces/faq/ask", json={"question": "where is my order"}).json()
    best = sure["answers"][0]
    assert best["id"] == "order" and best["answer"] == "See 'My orders'."
    assert best["confident"] is True and best["score"] > 0.99
    assert len(sure["answers"]) == 3
    unsure = client.post(
        "/spaces/faq/ask", json={"question": "what is the weather", "threshold": 0.95, "k": 1}
    ).json()
    assert len(unsure["answers"]) == 1 and unsure["answers"][0]["confident"] is False
    no_field = _error(client.post("/spaces/news/ask", json={"question": "item"}), 400)
    assert "no 'answer' field" in no_field["message"]


def test_the_page_and_plotly_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for tab in ("search", "image", "heatmap", "projector", "ask", "recommend"):
        assert f'id="tab-{tab}"' in page.text
    assert 'src="/static/app.js"' in page.text and "https://" not in page.text
    assert client.get("/static/app.js").status_code == 200
    if has("plotly"):
        plotly = client.get("/static/vendor/plotly.min.js")
        assert plotly.status_code == 200 and "plotly" in plotly.text[:2000].lower()


@pytest.fixture(scope="module")
def shop_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-tower model: even users buy gear (g*), odd users books (b*)."""
    pytest.importorskip("torch")
    from embedspace.io.interactions import Interactions
    from embedspace.ops.recommend import train_two_tower
    from embedspace.train.two_tower import TwoTowerSettings

    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(40):
        prefix = "g" if u % 2 == 0 else "b"
        for i in rng.choice(10, 6, replace=False):
            users.append(f"u{u}")
            items.append(f"{prefix}{i}")
    folder = tmp_path_factory.mktemp("recs") / "shop"
    settings = TwoTowerSettings(dim=8, id_dim=8, hidden=16, epochs=20, batch_size=64, patience=20)
    data = Interactions(np.array(users), np.array(items))
    train_two_tower(data, folder, settings=settings, baselines=False)
    return folder


def test_recommendations_from_a_two_tower_model(shop_model: Path, tmp_path: Path) -> None:
    with _client(recommenders=(str(shop_model),)) as client:
        listed = client.get("/recommenders").json()["recommenders"]
        assert [(r["name"], r["users"], r["items"]) for r in listed] == [("shop", 40, 20)]
        assert "u0" in listed[0]["example_users"]
        found = client.get("/recommenders/shop/recommend", params={"user": "u0", "k": 3}).json()
        assert len(found["items"]) == 3
        assert {"id", "score", "title"} == set(found["items"][0])
        alike = client.get("/recommenders/shop/similar-items", params={"item": "g1", "k": 3})
        assert "g1" not in {i["id"] for i in alike.json()["items"]}
        _error(client.get("/recommenders/shop/recommend", params={"user": "nobody"}), 400)
        missing = _error(client.get("/recommenders/other/recommend", params={"user": "u0"}), 404)
        assert "served: shop" in missing["message"]
    with pytest.raises(es.InvalidInput, match="not a two-tower model folder"):
        create_app(ServerSettings(recommenders=(str(tmp_path),), **FAKE))  # type: ignore[arg-type]
    assert "not a two-tower model folder" in fail("serve", "--recommender", str(tmp_path))
