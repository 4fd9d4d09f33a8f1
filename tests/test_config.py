"""Where embedspace keeps spaces and derived files."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from embedspace import config


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rule is Linux's")
@pytest.mark.parametrize("xdg", [None, "", "/srv/data"])
def test_home_follows_platformdirs_on_linux(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.delenv(config.HOME_VARIABLE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    expected = Path(platformdirs.user_data_dir("embedspace", appauthor=False))
    assert config.home() == expected


def test_variables_override_home_and_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(config.HOME_VARIABLE, str(tmp_path / "spaces"))
    monkeypatch.delenv(config.CACHE_VARIABLE, raising=False)
    assert config.home() == tmp_path / "spaces"
    assert config.cache_dir() == tmp_path / "spaces" / ".cache"
    monkeypatch.setenv(config.CACHE_VARIABLE, str(tmp_path / "cache"))
    assert config.cache_dir() == tmp_path / "cache"
