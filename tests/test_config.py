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


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"quota": "50000\n", "period": "100000\n"}, 0.5),  # cgroup v1
        ({"quota": "-1\n", "period": "100000\n"}, None),
        ({"cpu.max": "garbage\n"}, None),
        ({}, None),  # no cgroup files readable
    ],
)
def test_a_cgroup_cpu_quota_is_read_in_cores(
    tmp_path: Path, files: dict[str, str], expected: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    layout = (
        (str(tmp_path / "cpu.max"), None),
        (str(tmp_path / "quota"), str(tmp_path / "period")),
    )
    assert config.cpu_quota(layout) == expected


def test_cpu_count_is_capped_by_the_quota_rounded_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(config, "cpu_quota", lambda: 1.5)
    assert config.cpu_count() == 2  # docker run --cpus 1.5 on a 64-core host
    monkeypatch.setattr(config, "cpu_quota", lambda: None)
    assert config.cpu_count() == 64
    monkeypatch.setattr(config, "cpu_quota", lambda: 100.0)
    assert config.cpu_count() == 64  # a quota above the cores the process may run on
    monkeypatch.setattr(config, "cpu_quota", lambda: 0.2)
    assert config.cpu_count() == 1
