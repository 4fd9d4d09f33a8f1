"""Searches over HTTP take a space's handle from a pool, so several run side by side: each
handle serves one caller at a time, sees what other handles wrote, and a deleted space
leaves no handle behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import has

import embedspace as es
from embedspace.errors import SpaceNotFound

pytestmark = pytest.mark.skipif(not has("fastapi"), reason="needs embedspace[serve]")

if has("fastapi"):
    from fastapi.testclient import TestClient

    from embedspace.server import ServerSettings, create_app
    from embedspace.server.read_pool import ReadPool


def _space(name: str, texts: list[str]) -> Path:
    with es.Space.create(name, encoder="fake") as space:
        space.add(texts, ids=[t.split()[1] for t in texts])
        return Path(space.path)


def _top(client: TestClient, name: str, query: str) -> str:
    response = client.post(f"/spaces/{name}/search", json={"query": query, "k": 1})
    assert response.status_code == 200, response.text
    return str(response.json()["matches"][0]["id"])


def test_searches_see_writes_and_deletes_made_after_their_handles_opened() -> None:
    _space("news", ["a cat sat on the mat", "the stocks fell sharply"])
    settings = ServerSettings(models=("fake",), default_model="fake")
    with TestClient(create_app(settings)) as client:
        assert _top(client, "news", "a cat sat on the mat") == "cat"  # opens a search handle
        written = client.post(
            "/spaces/news/items", json={"items": [{"id": "bird", "text": "a bird sang loudly"}]}
        )
        assert written.json()["added"] == 1
        assert _top(client, "news", "a bird sang loudly") == "bird"
        client.post("/spaces/news/items/delete", json={"ids": ["bird"]})
        assert _top(client, "news", "a bird sang loudly") != "bird"

        assert client.delete("/spaces/news").json() == {"deleted": "news"}
        gone = client.post("/spaces/news/search", json={"query": "a cat", "k": 1})
        assert gone.status_code == 404, gone.text
        _space("news", ["a dog barked at night"])  # the same name, new content
        assert _top(client, "news", "a cat sat on the mat") == "dog"


def test_each_handle_serves_one_caller_at_a_time() -> None:
    pool = ReadPool("news", _space("news", ["a cat sat", "a dog ran"]), size=2)
    first = pool.taking()
    second = pool.taking()
    a, b = first.__enter__(), second.__enter__()
    assert a is not b
    got: list[es.Space] = []

    def third() -> None:
        with pool.taking() as space:
            got.append(space)

    waiting = threading.Thread(target=third)
    waiting.start()
    waiting.join(timeout=0.3)
    assert waiting.is_alive() and not got  # both handles lent: the third caller waits
    first.__exit__(None, None, None)
    waiting.join(timeout=10)
    assert got == [a]  # ... and gets the handle given back, not a third one
    assert len(a.search("a cat sat", 1)) == 1
    second.__exit__(None, None, None)
    pool.close()  # every handle back: closed now
    assert "(closed)" in repr(a) and "(closed)" in repr(b)


def test_closing_waits_for_handles_in_use_and_refuses_later_callers() -> None:
    pool = ReadPool("news", _space("news", ["a cat sat", "a dog ran"]), size=2)
    with pool.taking():
        pass  # one idle handle
    lent = pool.taking()
    space = lent.__enter__()
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (pool.close(), closed.set()))
    closer.start()
    assert not closed.wait(0.3)  # a search is still running on a handle
    assert space.search("a dog ran", 1)[0].id == "dog"
    lent.__exit__(None, None, None)
    assert closed.wait(10)
    with pytest.raises(SpaceNotFound, match="No space 'news'"), pool.taking():
        pass


def test_a_handle_that_cannot_open_frees_its_place(tmp_path: Path) -> None:
    pool = ReadPool("missing", tmp_path / "missing", size=1)
    refused: list[str] = []

    def two_tries() -> None:  # the second would wait for ever if the first kept its place
        for _ in range(2):
            with pytest.raises(SpaceNotFound), pool.taking():
                pass
            refused.append("refused")

    trying = threading.Thread(target=two_tries)
    trying.start()
    trying.join(timeout=10)
    assert refused == ["refused", "refused"]


def test_a_search_does_not_wait_for_a_write_to_the_same_space() -> None:
    from embedspace.encoders.threads import threads_asked
    from embedspace.server.state import ServedSpaces

    _space("news", ["a cat sat on the mat", "the stocks fell sharply"])
    spaces = ServedSpaces((), readers=2)
    found: list[str] = []

    def search() -> None:
        with spaces.searching("news") as space:
            found.append(space.search("the stocks fell sharply", 1)[0].id)

    with spaces.using("news"):  # a long write holds the space's handle and lock
        assert threads_asked() == 2  # its embedding spends this process's share of cores
        searching = threading.Thread(target=search)
        searching.start()
        searching.join(timeout=10)
        assert found == ["stocks"]
    spaces.close()


def test_a_space_deleted_or_replaced_through_another_server_process_is_not_served_stale() -> None:
    # Two apps on one spaces folder stand for two `serve --workers 2` processes.
    _space("news", ["a cat sat on the mat", "the stocks fell sharply"])
    settings = ServerSettings(models=("fake",), default_model="fake")
    with (
        TestClient(create_app(settings)) as first,
        TestClient(create_app(settings)) as second,
    ):
        assert _top(second, "news", "a cat sat on the mat") == "cat"  # its handles open
        assert second.get("/spaces/news").status_code == 200  # and its write handle
        assert first.delete("/spaces/news").json() == {"deleted": "news"}
        gone = second.post("/spaces/news/search", json={"query": "a cat", "k": 1})
        assert gone.status_code == 404, gone.text
        assert second.get("/spaces/news").status_code == 404
        _space("news", ["a dog barked at night"])  # the same name, new content
        assert _top(second, "news", "a cat sat on the mat") == "dog"
        assert second.get("/spaces/news").json()["count"] == 1


def _replace(name: str, texts: list[str]) -> None:
    """Delete the space ``name`` and make a new one under that name, as another server
    process would."""
    es.delete_space(name)
    _space(name, texts)


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
    thread.start()
    return thread, results


def test_noticing_a_replaced_space_for_a_write_leaves_the_new_search_handles_alone() -> None:
    from embedspace.server.state import ServedSpaces

    _space("news", ["a cat sat on the mat"])
    spaces = ServedSpaces((), readers=1)
    with spaces.searching("news"), spaces.using("news"):
        pass  # both kinds of handle open
    _replace("news", ["a dog barked", "a bird sang"])

    def search_then_write() -> object:
        # a new pool for the new space; then the stale write handle goes, not that pool
        with spaces.searching("news") as searcher, spaces.using("news") as writer:
            return (len(searcher), len(writer))

    thread, results = _in_thread(search_then_write)
    thread.join(20)
    assert not thread.is_alive(), "the write handle's check waited on the search handles"
    assert results == [(2, 2)]
    spaces.close()


def test_a_search_waiting_for_a_handle_of_a_space_replaced_meanwhile_gets_the_new_one() -> None:
    from embedspace.server.state import ServedSpaces

    _space("news", ["a cat sat on the mat"])
    spaces = ServedSpaces((), readers=1)  # one handle: the second search waits for it
    holding, release = threading.Event(), threading.Event()

    def hold() -> object:
        with spaces.searching("news") as space:
            holding.set()
            release.wait(20)
            return len(space)

    def count() -> object:
        with spaces.searching("news") as space:
            return len(space)

    holder, held = _in_thread(hold)
    assert holding.wait(20)
    waiter, waited = _in_thread(count)  # waits for the one handle of the old space
    time.sleep(0.2)
    _replace("news", ["a dog barked", "a bird sang"])
    noticer, noticed = _in_thread(count)  # sees the new space: retires the old pool
    noticer.join(20)  # without waiting for the handle still held
    assert not noticer.is_alive()
    release.set()
    for thread in (holder, waiter, noticer):
        thread.join(20)
        assert not thread.is_alive()
    assert held == [1] and waited == [2] and noticed == [2]
    spaces.close()


def test_a_space_deleted_elsewhere_lets_go_of_its_search_handles_at_any_request() -> None:
    from embedspace.server.state import ServedSpaces

    _space("news", ["a cat sat on the mat"])
    spaces = ServedSpaces((), readers=2)
    with spaces.searching("news"), spaces.using("news"):
        pass
    assert "news" in spaces._readers
    es.delete_space("news")  # through another process
    with pytest.raises(SpaceNotFound), spaces.using("news"):
        pass  # a GET or a write: 404, and the search handles are let go too
    assert "news" not in spaces._readers and "news" not in spaces._open
    spaces.close()
