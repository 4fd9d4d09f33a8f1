"""The output policy: parent folders must exist, writes are atomic, permissions follow the
umask, and failures are one clear error."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import embedspace as es
from embedspace.errors import EmbedspaceError, InvalidInput
from embedspace.io.folders import write_atomically
from embedspace.io.outputs import current_umask, write_file


@pytest.fixture
def umask_002() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing_it(umask_002: None) -> None:
    assert current_umask() == 0o002
    assert current_umask() == 0o002


def test_files_folders_and_spaces_follow_the_umask(tmp_path: Path, umask_002: None) -> None:
    file = tmp_path / "out.txt"
    write_file(file, lambda temp: temp.write_text("hello"))
    assert file.read_text() == "hello" and _mode(file) == 0o664
    folder = tmp_path / "model"
    write_atomically(folder, lambda temp: (temp / "a").write_text("x"), marker="a", kind="a model")
    assert _mode(folder) == 0o775
    space = es.Space.create(tmp_path / "space", encoder="fake")
    space.close()
    assert _mode(tmp_path / "space") == 0o775


def test_missing_parent_folder_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"there is no folder .*missing.*mkdir -p"):
        write_file(tmp_path / "missing" / "out.txt", lambda temp: temp.write_text("x"))
    with pytest.raises(InvalidInput, match="there is no folder"):
        write_atomically(tmp_path / "a" / "b", lambda temp: None, marker="m", kind="a model")
    assert not (tmp_path / "missing").exists() and not (tmp_path / "a").exists()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    file = tmp_path / "out.txt"
    file.write_text("old")

    def crash(temp: Path) -> None:
        temp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(EmbedspaceError, match=r"Could not write .*\(No space left on device\)"):
        write_file(file, crash)
    assert file.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_unwritable_places_are_one_error(tmp_path: Path) -> None:
    # InvalidInput ("not writable") for most users; root passes that check and fails later
    with pytest.raises(EmbedspaceError, match="not writable|Could not write /proc/x.npy"):
        write_file(Path("/proc/x.npy"), lambda temp: None)
    with pytest.raises(EmbedspaceError, match="not writable|Could not write"):
        write_atomically(Path("/proc/model"), lambda temp: None, marker="m", kind="a model")
    with pytest.raises(InvalidInput, match="it is a folder"):
        write_file(tmp_path, lambda temp: None)


def test_a_folder_swap_interrupted_between_its_renames_puts_the_old_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedspace.io import folders

    target = tmp_path / "model"
    target.mkdir()
    (target / "MARKER").write_text("old")
    real_replace = os.replace
    calls: list[str] = []

    def interrupted(source: str | Path, destination: str | Path) -> None:
        calls.append(str(destination))
        if len(calls) == 2:  # the new folder's rename: Ctrl-C lands here
            raise KeyboardInterrupt
        real_replace(source, destination)

    monkeypatch.setattr(folders.os, "replace", interrupted)

    def fill(folder: Path) -> None:
        (folder / "MARKER").write_text("new")

    with pytest.raises(KeyboardInterrupt):
        folders.write_atomically(target, fill, marker="MARKER", kind="a model folder")
    assert (target / "MARKER").read_text() == "old"
