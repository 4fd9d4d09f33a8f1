"""The HTTP face, in-process (FastAPI's TestClient) with the fake encoders, and one live
server answering the real OpenAI client with the shipped model."""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import has, live_server, needs_minilm

import embedspace as es

pytestmark = pytest.mark.skipif(not has("fastapi"), reason="needs embedspace[serve]")

if has("fastapi"):
    from fastapi.testclient import TestClient

    from embedspace.server import ServerSettings, create_app

FAKE = dict(models=("fake",), default_model="fake")


def _client(**settings: Any) -> TestClient:
    return TestClient(create_app(ServerSettings(**{**FAKE, **settings})))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with es.Space.create("news", encoder="fake") as space:
        space.add(
            ["a cat sat on the mat", "stocks fell sharply", "a dog chased the cat"],
            ids=["cat", "stocks", "dog"],
            metadata=[{"topic": "pets"}, {"topic": "money"}, {"topic": "pets"}],
        )
    with _client() as test_client:
        yield test_client


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return dict(body["error"])


def test_openai_embeddings_match_the_encoder_as_floats_and_base64(client: TestClient) -> None:
    texts = ["a cat", "the stock market"]
    expected = es.encoders.get("fake").encode(texts)
    floats = client.post("/v1/embeddings", json={"input": texts, "model": "fake"}).json()
    assert floats["object"] == "list" and floats["model"] == "fake"
    got = np.array([row["embedding"] for row in floats["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [row["index"] for row in floats["data"]] == [0, 1]
    assert floats["usage"]["prompt_tokens"] == 5 == floats["usage"]["total_tokens"]
    packed = client.post(
        "/v1/embeddings", json={"input": "a cat", "model": "fake", "encoding_format": "base64"}
    ).json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(packed), dtype="<f4")
    np.testing.assert_allclose(decoded, expected[0], atol=1e-6)
    models = client.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["fake"]


def test_openai_embeddings_refuse_what_they_cannot_do(client: TestClient) -> None:
    tokens = _error(client.post("/v1/embeddings", json={"input": [[1, 2, 3]]}), 400)
    assert "token ids" in tokens["message"] and "check_embedding_ctx_length" in tokens["message"]
    dims = _error(
        client.post("/v1/embeddings", json={"input": "x", "model": "fake", "dimensions": 8}), 400
    )
    assert "64-dimensional" in dims["message"]
    _error(client.post("/v1/embeddings", json={"input": ["ok", " "]}), 400)
    _error(client.post("/v1/embeddings", json={"input": "x", "model": "gpt-4"}), 400)
    with _client(max_batch=3) as small:
        _error(small.post("/v1/embeddings", json={"input": ["a", "b", "c", "d"]}), 413)


def test_spaces_over_http(client: TestClient) -> None:
    listed = client.get("/spaces").json()["spaces"]
    assert [(s["name"], s["count"]) for s in listed] == [("news", 3)]
    found = client.post("/spaces/news/search", json={"query": "a cat sat", "k": 2}).json()
    assert found["matches"][0]["id"] == "cat"
    by_get = client.get("/spaces/news/search", params={"q": "a cat sat", "k": 2}).json()
    assert by_get == found
    pets = client.get("/spaces/news/search", params={"q": "stocks", "where": "topic=pets"}).json()[
        "matches"
    ]
    assert {m["id"] for m in pets} == {"cat", "dog"}
    vector = es.encoders.get("fake").encode(["stocks fell sharply"])[0].tolist()
    by_vector = client.post("/spaces/news/search", json={"vector": vector, "k": 1}).json()
    assert by_vector["matches"][0]["id"] == "stocks"
    assert client.get("/spaces/news/similar/cat", params={"k": 1}).json()["matches"][0]["id"]
    written = client.post(
        "/spaces/news/items",
        json={"items": [{"id": "bird", "text": "a bird sang", "metadata": {"topic": "pets"}}]},
    ).json()
    assert written["added"] == 1
    item = client.get("/spaces/news/items/bird", params={"vector": True}).json()
    assert item["content"] == "a bird sang" and len(item["vector"]) == 64
    assert client.post("/spaces/news/items/delete", json={"ids": ["bird"]}).json()["deleted"] == 1
    assert client.post("/spaces", json={"name": "notes", "encoder": "fake"}).status_code == 201
    assert client.delete("/spaces/notes").json() == {"deleted": "notes"}
    _error(client.get("/spaces/notes"), 404)
    _error(client.get("/spaces/..%2F..%2Fetc/search", params={"q": "x"}), 404)


def test_every_route_answers_errors_in_one_shape(client: TestClient) -> None:
    """Each route, given something wrong, answers the same JSON error shape."""
    bad: list[tuple[str, str, dict[str, Any]]] = [
        ("post", "/v1/embeddings", {"json": {"input": 5}}),
        ("get", "/spaces/nowhere", {}),
        ("post", "/spaces", {"json": {"name": "x", "metric": "manhattan"}}),
        ("delete", "/spaces/nowhere", {}),
        ("post", "/spaces/news/items", {"json": {"items": [{"text": ""}], "mode": "add"}}),
        ("get", "/spaces/news/items/missing", {}),
        ("post", "/spaces/news/items/delete", {"json": {"ids": "cat"}}),
        ("post", "/spaces/news/search", {"json": {"k": 2}}),
        ("get", "/spaces/news/search", {"params": {"q": "x", "k": 0}}),
        ("get", "/spaces/news/similar/missing", {}),
        ("post", "/spaces/news/search/image", {"files": {"image": ("x.png", b"not an image")}}),
        ("post", "/spaces/news/dedup", {"json": {"threshold": 5}}),
        ("post", "/spaces/news/cluster", {"json": {}}),
        ("post", "/spaces/news/outliers", {"json": {"method": "magic"}}),
        ("post", "/spaces/news/classify", {"json": {"labels": ["cat", "cat"]}}),
        ("post", "/drift", {"json": {"reference": "news", "current": "nowhere"}}),
        ("get", "/spaces/news/map", {"params": {"dims": 4}}),
        ("post", "/heatmap", {"json": {"texts": ["only one"], "model": "fake"}}),
        ("post", "/spaces/news/ask", {"json": {"question": " "}}),
        ("get", "/recommenders", {"headers": {"content-length": "99999999"}}),
        ("get", "/recommenders/nowhere/recommend", {"params": {"user": "u1"}}),
        ("get", "/recommenders/nowhere/similar-items", {"params": {"item": "i1"}}),
        ("get", "/no/such/route", {}),
        ("get", "/v1/models", {"headers": {"content-length": "99999999"}}),
    ]
    routes = {
        route.path  # type: ignore[attr-defined]
        for route in client.app.routes  # type: ignore[attr-defined]
        if getattr(route, "include_in_schema", False)
    }
    tried = {path for _, path, _ in bad}
    untried = {r for r in routes if not any(_same_route(r, t) for t in tried)}
    assert untried <= {"/health", "/metrics"}, untried
    for method, path, kwargs in bad:
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code >= 400, (path, response.text)
        _error(response, response.status_code)


def _same_route(template: str, path: str) -> bool:
    parts, actual = template.split("/"), path.split("/")
    return len(parts) == len(actual) and all(
        p == a or p.startswith("{") for p, a in zip(parts, actual, strict=True)
    )


def test_tokens_guard_reads_and_writes() -> None:
    es.Space.create("news", encoder="fake").close()
    with _client(token="secret", read_only_token="look") as client:
        _error(client.get("/spaces"), 401)
        _error(client.get("/spaces", headers={"Authorization": "Bearer wrong"}), 401)
        assert client.get("/spaces", headers={"Authorization": "Bearer look"}).status_code == 200
        write = {"json": {"items": [{"text": "x"}]}}
        forbidden = _error(
            client.post("/spaces/news/items", headers={"Authorization": "Bearer look"}, **write),
            403,
        )
        assert "only read" in forbidden["message"]
        ok = client.post("/spaces/news/items", headers={"Authorization": "Bearer secret"}, **write)
        assert ok.status_code == 200
    with pytest.raises(es.InvalidInput, match="token"):
        create_app(ServerSettings(host="0.0.0.0", **FAKE))  # type: ignore[arg-type]


def test_limits_answer_413_and_429(client: TestClient) -> None:
    with _client(max_body_bytes=100) as small:
        _error(small.post("/v1/embeddings", json={"input": ["x" * 200]}), 413)
    assert client.get("/spaces").status_code == 200
    state = client.app.state.embedspace  # type: ignore[attr-defined]
    state.in_flight = state.settings.max_concurrent
    busy = client.get("/spaces")
    state.in_flight = 0
    assert _error(busy, 429)["type"] == "rate_limit_error"
    assert busy.headers["retry-after"] == "1"
    metrics = client.get("/metrics").text
    assert 'embedspace_requests_total{path="spaces"}' in metrics


def test_image_search_bounds_uploads(tmp_path: Path) -> None:
    from PIL import Image

    with es.Space.create("pics", encoder="fake-image") as space:
        for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            Image.new("RGB", (16, 16), colour).save(tmp_path / f"{name}.png")
        space.upsert_images(tmp_path)

    def png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", size, colour).save(out, format="PNG")
        return out.getvalue()

    with _client(models=("fake-image",), default_model="fake-image", max_image_pixels=10_000) as c:
        found = c.post(
            "/spaces/pics/search/image", files={"image": ("q.png", png((20, 20), (250, 5, 5)))}
        ).json()
        assert found["matches"][0]["id"] == "red.png"
        bomb = png((200, 200), (0, 0, 0))  # 40,000 pixels over a 10,000 limit
        _error(c.post("/spaces/pics/search/image", files={"image": ("b.png", bomb)}), 413)


def test_audio_search_identifies_an_uploaded_clip(tmp_path: Path) -> None:
    soundfile = pytest.importorskip("soundfile")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from make_songs import RATE, noisy_clip, synthesize

    songs = [synthesize(seed, 15.0) for seed in range(3)]
    for number, song in enumerate(songs):
        soundfile.write(tmp_path / f"song-{number}.wav", song, RATE, subtype="PCM_16")
    from embedspace.ops.ingest import ingest

    ingest("songs", [tmp_path])

    def upload(samples: np.ndarray, name: str = "clip.wav") -> bytes:
        out = io.BytesIO()
        soundfile.write(out, samples, RATE, format="WAV", subtype="PCM_16")
        return out.getvalue()

    with _client(max_audio_bytes=2_000_000) as c:
        clip = upload(noisy_clip(songs[1], 6.0, 4.0, 10.0, seed=1))
        found = c.post("/spaces/songs/search/audio", files={"audio": ("c.wav", clip)}).json()
        assert found["songs"][0]["id"] == "song-1.wav"
        assert abs(found["songs"][0]["offset_s"] - 6.0) < 0.05
        noise = upload(np.random.default_rng(0).standard_normal(4 * RATE).astype(np.float32) / 4)
        none = c.post("/spaces/songs/search/audio", files={"audio": ("n.wav", noise)}).json()
        assert none == {"songs": []}
        bad = c.post("/spaces/songs/search/audio", files={"audio": ("x.wav", b"not audio")})
        assert _error(bad, 400)
        big = upload(np.zeros(60 * RATE, dtype=np.float32))
        _error(c.post("/spaces/songs/search/audio", files={"audio": ("b.wav", big)}), 413)


def test_two_apps_share_nothing() -> None:
    first, second = create_app(ServerSettings(**FAKE)), create_app(ServerSettings(**FAKE))  # type: ignore[arg-type]
    assert first.state.embedspace is not second.state.embedspace


@pytest.mark.slow
@needs_minilm
def test_the_openai_client_gets_the_same_vectors_as_embed() -> None:
    """A live uvicorn on 127.0.0.1 answers the official OpenAI client (base64 by default,
    and float) with minilm-l6's vectors."""
    from openai import OpenAI

    with live_server(lambda port: ServerSettings(port=port)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused")
        texts = ["The rover landed on Mars.", "Stocks fell sharply.", "A cat sat on the mat."]
        expected = es.encoders.get("minilm-l6").encode(texts)
        default = client.embeddings.create(input=texts, model="minilm-l6")
        floats = client.embeddings.create(input=texts, model="minilm-l6", encoding_format="float")
        for response in (default, floats):
            got = np.array([row.embedding for row in response.data], dtype=np.float32)
            cosine = np.sum(got * expected, axis=1)
            assert cosine.min() > 0.999  # batched with other texts: int8 may move a little
            assert response.usage.prompt_tokens > len(texts)


def test_names_cannot_leave_the_spaces_folder_and_models_are_only_the_served_ones(
    client: TestClient,
) -> None:
    for name in ("~", "~root", "%2E%2E", ".hidden", "a b"):
        _error(client.get(f"/spaces/{name}"), 404)
        _error(client.delete(f"/spaces/{name}"), 404)
    refused = _error(client.post("/spaces", json={"name": "x", "encoder": "/etc"}), 400)
    assert "not served" in refused["message"]
    assert not es.Space.exists("x")


def test_one_bad_query_does_not_fail_the_queries_batched_with_it() -> None:
    import asyncio

    from embedspace.ops.batching import DynamicBatcher

    encoder = es.encoders.get("fake")
    batcher = DynamicBatcher(lambda texts: encoder.encode(texts))

    async def three() -> list[Any]:
        return await asyncio.gather(
            batcher.embed(["a cat"]),
            batcher.embed(["   "]),
            batcher.embed(["a dog"]),
            return_exceptions=True,
        )

    good, bad, other = asyncio.run(three())
    assert isinstance(bad, es.InvalidInput)
    np.testing.assert_allclose(good, encoder.encode(["a cat"]), atol=1e-6)
    np.testing.assert_allclose(other, encoder.encode(["a dog"]), atol=1e-6)


def test_an_image_may_be_larger_than_the_body_limit(tmp_path: Path) -> None:
    from PIL import Image

    with es.Space.create("pics", encoder="fake-image") as space:
        Image.new("RGB", (16, 16), (255, 0, 0)).save(tmp_path / "red.png")
        space.upsert_images(tmp_path)
    noisy = np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noisy).save(out, format="PNG")
    assert len(out.getvalue()) > 1_000_000
    settings = dict(models=("fake-image",), default_model="fake-image", max_body_bytes=500_000)
    with _client(**settings) as c:
        answer = c.post("/spaces/pics/search/image", files={"image": ("n.png", out.getvalue())})
        assert answer.status_code == 200, answer.text
        _error(c.post("/v1/embeddings", json={"input": ["x" * 600_000]}), 413)
    metrics_client = _client()
    with metrics_client as c:
        c.get("/no-such-thing-%22%0Abad")
        assert "bad" not in c.get("/metrics").text


def test_settings_travel_to_worker_processes() -> None:
    from embedspace.server.settings import from_environment, to_environment

    settings = ServerSettings(spaces=("news",), token="t", models=("fake",), workers=3)
    assert from_environment(to_environment(settings)) == settings


def test_serve_with_two_workers_answers(tmp_path: Path) -> None:
    """``embedspace serve --workers 2``: worker processes built from the parent's settings
    answer the API."""
    import os
    import subprocess
    import sys
    import time

    import httpx
    from conftest import free_port

    with es.Space.create(tmp_path / "home" / "news", encoder="hashing") as space:
        space.add(["a cat sat on the mat", "stocks fell"], ids=["cat", "stocks"])
    port = free_port()
    env = {**os.environ, "EMBEDSPACE_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "embedspace", "serve", "--model", "hashing"]
    server = subprocess.Popen(
        [*command, "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        found = httpx.get(f"http://127.0.0.1:{port}/spaces/news/search", params={"q": "cat"})
        assert found.json()["matches"][0]["id"] == "cat"
        embedded = httpx.post(
            f"http://127.0.0.1:{port}/v1/embeddings", json={"input": ["a cat"]}
        ).json()
        assert embedded["model"] == "hashing" and len(embedded["data"]) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_body_without_a_length_is_limited_and_replayed(client: TestClient) -> None:
    import json

    def chunks(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    small = json.dumps({"input": ["a cat"], "model": "fake"}).encode()
    headers = {"content-type": "application/json"}
    answer = client.post("/v1/embeddings", content=chunks(small), headers=headers)
    assert answer.status_code == 200 and len(answer.json()["data"]) == 1
    with _client(max_body_bytes=5000) as limited:
        big = json.dumps({"input": ["x" * 6000]}).encode()
        _error(limited.post("/v1/embeddings", content=chunks(big), headers=headers), 413)


def test_search_answers_carry_any_stored_metadata(client: TestClient) -> None:
    with es.Space.open("news") as space:
        space.add(["a huge number"], ids=["huge"], metadata=[{"n": 2**70, "tags": ["a", "b"]}])
    found = client.get("/spaces/news/search", params={"q": "a huge number", "k": 1}).json()
    assert found["matches"][0]["metadata"] == {"n": 2**70, "tags": ["a", "b"]}
    assert found["matches"][0]["id"] == "huge"


def test_a_query_of_broken_unicode_or_only_symbols_is_answered_clearly(
    client: TestClient,
) -> None:
    broken = client.post(
        "/spaces/news/search",
        content=b'{"query": "a cat \\udc80", "k": 1}',
        headers={"content-type": "application/json"},
    )
    assert "lone surrogate" in _error(broken, 400)["message"]  # the search says what is wrong
    symbols = client.post("/spaces/news/search", json={"query": "!!!", "k": 2})
    assert symbols.status_code == 200  # a vector of zeros from the encoder: as a search has it
    markup = client.get("/spaces/news/search", params={"q": "a cat [/b] sat", "k": 1}).json()
    assert markup["matches"][0]["id"] == "cat"
