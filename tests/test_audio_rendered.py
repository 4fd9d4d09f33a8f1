"""Real components: MIDI rendered by Debian's fluidsynth, a clip sent through ffmpeg's MP3
encoder, identified; Chromaprint's fpcalc reads the same files (bench/audio.py's baseline)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedspace import Space
from embedspace.io.audio import audio_record
from embedspace.io.records import Record
from tests.conftest import require


def test_rendered_songs_are_identified_after_mp3_and_noise(tmp_path: Path) -> None:
    from bench import audio

    for tool in ("fluidsynth", "ffmpeg", "fpcalc"):
        require(shutil.which(tool) is not None, f"{tool} is not installed (apt-get)")
    require(audio.SOUNDFONT.is_file(), "fluid-soundfont-gm is not installed (apt-get)")
    pytest.importorskip("mido")
    pieces = audio.corpus(tmp_path / "library", 4, 0, 15.0)
    with Space.create(tmp_path / "songs", encoder="landmarks") as space:
        records = [audio_record(piece, piece.parent) for piece in pieces]
        result = space.upsert([r for r in records if isinstance(r, Record)])
        assert result.added == 4
        for number, piece in enumerate(pieces):
            clip = tmp_path / f"clip-{number}.wav"
            audio.make_clip(piece, 4.0 + number, 3.0, 10.0, number, clip)
            found = space.search_audio(clip)
            assert found and found[0].id == piece.name
            assert abs(found[0].offset_s - (4.0 + number)) < 0.05
    assert len(audio.chromaprint(pieces[0])) > 50
