"""The web page in real headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by selenium) against a live uvicorn on 127.0.0.1 serving spaces made with the fake
encoders: search with filters, image upload and drop, the heatmap, the projector's click,
ask, and recommend. Screenshots go to ``tests/artifacts/``."""

from __future__ import annotations

import base64
import io
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import has, live_server, require
from test_server_views import shop_model  # noqa: F401  (a fixture: the tiny two-tower model)

import embedspace as es

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # make_songs

pytestmark = pytest.mark.skipif(not has("fastapi"), reason="needs embedspace[serve]")

ARTIFACTS = Path(__file__).parent / "artifacts"
TOPICS = ("pets", "money", "space")
COLOURS = {"red": (230, 20, 20), "green": (20, 200, 40), "blue": (20, 40, 230)}
WAIT = 30.0

if has("selenium"):
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import Select


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the module."""
    require(has("selenium"), "selenium is not installed (the dev dependency group)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    require(chromium is not None, "no chromium: apt-get install chromium")
    require(driver_path is not None, "no chromedriver: apt-get install chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1366,900")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(driver_path)))
    driver.set_window_size(1366, 900)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _png(colour: tuple[int, int, int], size: int = 24) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="PNG")
    return out.getvalue()


def _spaces(folder: Path) -> None:
    """news (text, with topics), faq (questions with answers), pics (coloured squares)."""
    with es.Space.create("news", encoder="fake") as space:
        space.add(
            [f"story {i} about {TOPICS[i % 3]}" for i in range(60)],
            ids=[f"n{i}" for i in range(60)],
            metadata=[{"topic": TOPICS[i % 3]} for i in range(60)],
        )
    with es.Space.create("faq", encoder="fake") as space:
        space.add(
            ["how do I reset my password", "where is my order", "can I pay by card"],
            ids=["reset", "order", "card"],
            metadata=[
                {"answer": "Use the forgot-password link."},
                {"answer": "See My orders."},
                {"answer": "Yes, every major card."},
            ],
        )
    pictures = folder / "pictures"
    pictures.mkdir()
    for name, colour in COLOURS.items():
        (pictures / f"{name}.png").write_bytes(_png(colour, 16))
    with es.Space.create("pics", encoder="fake-image") as space:
        space.upsert_images(pictures)
    if has("soundfile"):
        import soundfile
        from make_songs import RATE, synthesize

        from embedspace.ops.ingest import ingest

        songs = folder / "songs"
        songs.mkdir()
        for number in range(3):
            soundfile.write(songs / f"song-{number}.wav", synthesize(number, 12.0), RATE)
        ingest("songs", [songs])


@contextmanager
def _serving(folder: Path, recommenders: tuple[str, ...] = ()) -> Iterator[str]:
    """A live uvicorn on 127.0.0.1 serving the spaces of ``_spaces`` (and ``recommenders``)."""
    from embedspace.server import ServerSettings

    _spaces(folder)
    with live_server(
        lambda port: ServerSettings(
            port=port, models=("fake",), default_model="fake", recommenders=recommenders
        )
    ) as url:
        yield url


@pytest.fixture
def site(tmp_path: Path, browser: WebDriver) -> Iterator[str]:
    """The page's server, fresh for each test."""
    with _serving(tmp_path) as url:
        yield url


def _until(condition: Callable[[], Any], what: str) -> Any:
    """Wait for ``condition()`` to be truthy (ignoring errors while the page changes)."""
    deadline, last = time.time() + WAIT, None
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # the DOM changes under us: try again
            last = error
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} ({last})")


def _open(browser: WebDriver, url: str, space: str) -> None:
    browser.get(url)
    _until(lambda: space in _options(browser), f"the space {space} in the picker")
    Select(browser.find_element(By.ID, "space")).select_by_value(space)


def _options(browser: WebDriver) -> list[str]:
    return [
        o.get_attribute("value") or "" for o in Select(browser.find_element(By.ID, "space")).options
    ]


def _results(browser: WebDriver, list_id: str) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, f"#{list_id} > li.result")


def _ids(items: list[WebElement]) -> list[str]:
    return [i.get_attribute("data-id") or "" for i in items]


def _scores(items: list[WebElement]) -> list[float]:
    return [float(i.find_element(By.CSS_SELECTOR, ":scope > .score").text) for i in items]


def _shot(browser: WebDriver, name: str) -> None:
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_search_shows_ranked_results_and_filters(site: str, browser: WebDriver) -> None:
    _open(browser, site, "news")
    query = browser.find_element(By.ID, "query")
    query.send_keys("story 7 about money", Keys.ENTER)
    found = _until(lambda: _results(browser, "results"), "search results")
    assert _ids(found)[0] == "n7" and len(found) == 10
    scores = _scores(found)
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=1e-3)
    assert "10 results" in browser.find_element(By.ID, "search-status").text
    mode = Select(browser.find_element(By.ID, "mode"))
    mode.select_by_value("keyword")  # by words: bm25 scores, "7" only in n7
    query.send_keys(Keys.ENTER)
    _until(lambda: _scores(_results(browser, "results"))[0] > 1.5, "keyword (bm25) scores")
    assert _ids(_results(browser, "results"))[0] == "n7"
    mode.select_by_value("dense")
    query.send_keys(Keys.ENTER)
    _until(lambda: _scores(_results(browser, "results"))[0] < 1.01, "dense scores again")
    browser.find_element(By.ID, "filter-input").send_keys("topic=pets", Keys.ENTER)
    _until(lambda: "n7" not in _ids(_results(browser, "results")), "filtered results")
    filtered = _results(browser, "results")
    assert filtered and all("topic=pets" in item.text for item in filtered)
    assert browser.find_element(By.CSS_SELECTOR, "#filters .chip").text.startswith("topic=pets")
    filtered[0].find_element(By.CSS_SELECTOR, "[data-similar]").click()
    _until(lambda: filtered[0].find_elements(By.CSS_SELECTOR, ".neighbours li"), "neighbours")
    _shot(browser, "search")


def test_an_uploaded_or_dropped_image_finds_its_picture(
    site: str, browser: WebDriver, tmp_path: Path
) -> None:
    _open(browser, site, "pics")
    browser.find_element(By.ID, "tab-image").click()
    query = tmp_path / "query.png"
    query.write_bytes(_png((240, 30, 25), 40))  # a larger, slightly different red
    browser.find_element(By.ID, "image-file").send_keys(str(query))
    _until(lambda: _ids(_results(browser, "image-results"))[:1] == ["red.png"], "red.png first")
    assert browser.find_element(By.ID, "image-preview").is_displayed()
    _shot(browser, "image")
    blue = base64.b64encode(_png((10, 30, 240), 32)).decode()
    browser.execute_script(
        """const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const drop = new DataTransfer();
        drop.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        document.getElementById("dropzone").dispatchEvent(
          new DragEvent("drop", { dataTransfer: drop, bubbles: true, cancelable: true }));""",
        blue,
    )
    _until(lambda: _ids(_results(browser, "image-results"))[:1] == ["blue.png"], "blue.png first")


def test_a_recorded_clip_names_its_song(site: str, browser: WebDriver, tmp_path: Path) -> None:
    require(has("soundfile"), "soundfile is not installed (embedspace[audio])")
    import numpy as np
    import soundfile
    from make_songs import RATE, noisy_clip, synthesize

    _open(browser, site, "songs")
    browser.find_element(By.ID, "tab-sound").click()
    clip = tmp_path / "recording.wav"
    soundfile.write(clip, noisy_clip(synthesize(2, 12.0), 3.0, 4.0, 10.0, seed=5), RATE)
    browser.find_element(By.ID, "sound-file").send_keys(str(clip))
    _until(lambda: _ids(_results(browser, "sound-results"))[:1] == ["song-2.wav"], "song-2")
    offset = browser.find_element(By.CSS_SELECTOR, "#sound-results .offset").text
    assert abs(float(offset) - 3.0) < 0.05
    assert "recording.wav is song-2.wav" in browser.find_element(By.ID, "sound-status").text
    _shot(browser, "sound")
    noise = tmp_path / "hiss.wav"
    soundfile.write(noise, np.random.default_rng(1).standard_normal(3 * RATE) / 4, RATE)
    browser.find_element(By.ID, "sound-file").send_keys(str(noise))
    _until(lambda: "No match" in browser.find_element(By.ID, "sound-status").text, "no match")
    assert _results(browser, "sound-results") == []


def test_heatmap_of_typed_sentences(site: str, browser: WebDriver) -> None:
    _open(browser, site, "news")
    browser.find_element(By.ID, "tab-heatmap").click()
    box = browser.find_element(By.ID, "heat-texts")
    box.clear()
    box.send_keys("a cat sat\na cat sat\nstocks fell sharply\n\n")
    _until(lambda: browser.find_elements(By.CSS_SELECTOR, "#heat-model option"), "models")
    browser.find_element(By.ID, "heat-run").click()
    cells = _until(lambda: browser.find_elements(By.CSS_SELECTOR, "#heatmap td.cell"), "cells")
    assert len(cells) == 9 and cells[1].text == "1.00"
    assert "Most alike: 1 and 2" in browser.find_element(By.ID, "heatmap").text
    _shot(browser, "heatmap")


def test_projector_click_lists_the_neighbours(site: str, browser: WebDriver) -> None:
    require(
        has("plotly"), "plotly is not installed (embedspace[plot]): the projector draws with it"
    )
    _open(browser, site, "news")
    browser.find_element(By.ID, "tab-projector").click()
    _until(lambda: "60 items" in browser.find_element(By.ID, "map-status").text, "the map")
    Select(browser.find_element(By.ID, "map-color")).select_by_visible_text("topic")
    _until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".legend .traces")) == 3, "legend")
    points = browser.find_elements(By.CSS_SELECTOR, "#map-plot .scatterlayer .point")
    assert len(points) == 60
    ActionChains(browser).move_to_element(points[5]).pause(0.3).click().perform()
    selected = _until(
        lambda: browser.find_element(By.CSS_SELECTOR, "#map-selected .selected-id").text,
        "a selected point",
    )
    neighbours = _until(lambda: _results(browser, "neighbours"), "neighbours")
    assert len(neighbours) == 10 and selected not in _ids(neighbours)
    assert selected.startswith("n")
    scores = _scores(neighbours)
    assert scores == sorted(scores, reverse=True)
    _shot(browser, "projector")
    Select(browser.find_element(By.ID, "map-dims")).select_by_value("3")
    _until(lambda: "3D" in browser.find_element(By.ID, "map-status").text, "the 3D map")
    _shot(browser, "projector-3d")


def test_ask_answers_or_says_there_is_no_good_answer(site: str, browser: WebDriver) -> None:
    _open(browser, site, "faq")
    browser.find_element(By.ID, "tab-ask").click()
    question = browser.find_element(By.ID, "ask-question")
    question.send_keys("where is my order", Keys.ENTER)
    answer = _until(lambda: browser.find_element(By.ID, "answer"), "an answer")
    assert "See My orders." in answer.text and "100% confident" in answer.text
    _shot(browser, "ask")
    browser.execute_script(
        "const r = document.getElementById('ask-threshold'); r.value = '0.95';"
        "r.dispatchEvent(new Event('input'));"
    )
    question.clear()
    question.send_keys("what is the weather like on mars", Keys.ENTER)
    none = _until(lambda: browser.find_element(By.ID, "no-answer"), "no good answer")
    assert "No good answer" in none.text and "below the threshold 0.95" in none.text
    _shot(browser, "ask-no-answer")


def test_recommend_page_lists_items_for_a_user(
    shop_model: Path,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
    browser: WebDriver,
) -> None:
    with _serving(tmp_path, (str(shop_model),)) as url:
        browser.get(f"{url}/#recommend")
        _until(lambda: "40 users" in browser.find_element(By.ID, "rec-info").text, "the model")
        browser.find_element(By.ID, "rec-user").send_keys("u0", Keys.ENTER)
        found = _until(lambda: _results(browser, "rec-results"), "recommendations")
        assert len(found) == 10
        scores = _scores(found)
        assert scores == sorted(scores, reverse=True)
        browser.find_element(By.ID, "rec-item").send_keys("g1", Keys.ENTER)
        alike = _until(lambda: _results(browser, "rec-similar"), "similar items")
        assert "g1" not in _ids(alike)
        _shot(browser, "recommend")
