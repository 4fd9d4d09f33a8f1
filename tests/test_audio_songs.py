"""Audio readers and "what song is this?": landmark fingerprints in a space, end to end,
with small synthetic songs (examples/make_songs.py) and clips cut from them."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from embedspace import Space
from embedspace.encoders import landmarks
from embedspace.errors import InvalidInput, TooLarge
from embedspace.io.audio import Audio, audio_record, load_audio
from embedspace.io.folder_items import read_folder
from embedspace.io.records import Record, Rejection
from tests.conftest import fail, run

soundfile = pytest.importorskip("soundfile")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from make_songs import RATE, noisy_clip, synthesize  # noqa: E402

SONGS = 6
SECONDS = 20.0


@pytest.fixture(scope="module")
def songs() -> list[np.ndarray]:
    return [synthesize(seed, SECONDS) for seed in range(SONGS)]


@pytest.fixture
def library(tmp_path: Path, songs: list[np.ndarray]) -> Path:
    folder = tmp_path / "library"
    (folder / "more").mkdir(parents=True)
    for number, song in enumerate(songs):
        where = folder / "more" if number % 2 else folder
        soundfile.write(where / f"song-{number}.wav", song, RATE, subtype="PCM_16")
    return folder


def write_clip(path: Path, samples: np.ndarray, rate: int = RATE, **options: str) -> Path:
    soundfile.write(path, samples, rate, **options)
    return path


# ------------------------------------------------------------------------ readers
@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".wav", {"subtype": "PCM_16"}), (".flac", {}), (".ogg", {}), (".mp3", {})],
)
def test_reads_each_format_mono_at_one_rate(
    tmp_path: Path, songs: list[np.ndarray], suffix: str, options: dict[str, str]
) -> None:
    stereo = np.stack([songs[0][: 3 * RATE], songs[0][: 3 * RATE] * 0.5], axis=1)
    path = write_clip(tmp_path / f"clip{suffix}", stereo, **options)
    record = audio_record(path, tmp_path)
    assert isinstance(record, Record) and record.modality == "audio"
    assert record.metadata["channels"] == 2 and record.metadata["sample_rate"] == RATE
    assert abs(record.metadata["duration_s"] - 3.0) < 0.1  # MP3 pads its frames
    samples = load_audio(path, 8000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / 8000 - 3.0) < 0.1
    # the mono mix of the left channel and half of it, resampled: 0.75 x the song
    reference = load_audio(Audio(songs[0][: 3 * RATE] * 0.75, RATE), 8000)
    n = min(len(reference), len(samples)) - 2000
    if suffix in (".wav", ".flac"):
        assert np.abs(samples[1000:n] - reference[1000:n]).max() < 1e-3


def test_folders_report_bad_files_with_their_paths(tmp_path: Path, songs: list[np.ndarray]) -> None:
    folder = tmp_path / "sounds"
    (folder / "deep").mkdir(parents=True)
    write_clip(folder / "deep" / "good.wav", songs[0][:RATE], subtype="PCM_16")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    whole = (folder / "deep" / "good.wav").read_bytes()
    (folder / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    write_clip(folder / "silent.flac", np.zeros(RATE, dtype=np.float32))
    write_clip(folder / "empty.wav", np.zeros(0, dtype=np.float32), subtype="PCM_16")
    found = list(read_folder(folder))
    records = [r for r in found if isinstance(r, Record)]
    rejected = {Path(r.path).name: r.reason for r in found if isinstance(r, Rejection)}
    assert [r.id for r in records] == ["deep/good.wav"]
    assert set(rejected) == {"corrupt.wav", "truncated.wav", "silent.flac", "empty.wav"}
    assert "truncated" in rejected["truncated.wav"]
    assert "silent" in rejected["silent.flac"]
    assert "no audio" in rejected["empty.wav"]
    assert "not a readable audio file" in rejected["corrupt.wav"]


def test_load_audio_refuses_what_it_cannot_take(tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match="longer than 1 s"):
        load_audio(Audio(np.zeros(3 * 8000, dtype=np.float32), 8000), 8000, max_seconds=1)
    with pytest.raises(InvalidInput, match="positive whole rate"):
        load_audio(Audio(np.zeros(10, dtype=np.float32), 0), 8000)
    with pytest.raises(InvalidInput, match="NaN"):
        load_audio(Audio(np.full(10, np.nan, dtype=np.float32), 8000), 8000)
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(InvalidInput, match="notes.wav is not a readable audio file"):
        load_audio(tmp_path / "notes.wav", 8000)


# ------------------------------------------------------------------- fingerprints
def test_long_sounds_are_fingerprinted_in_segments_alike(
    songs: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = load_audio(Audio(np.concatenate(songs[:3]), RATE), landmarks.RATE)
    whole = landmarks.fingerprint_samples(samples)
    monkeypatch.setattr(landmarks, "SEGMENT", landmarks.FRAMES_PER_WINDOW * 3)
    pieces = landmarks.fingerprint_samples(samples)
    assert len(whole.hashes) > 1000
    assert np.array_equal(whole.hashes, pieces.hashes)
    assert np.array_equal(whole.offsets, pieces.offsets)
    assert np.allclose(whole.profile, pieces.profile, atol=1e-5)


def test_index_and_identify_noisy_clips(
    tmp_path: Path, library: Path, songs: list[np.ndarray]
) -> None:
    indexed = run("index", str(tmp_path / "songs"), str(library), "--json")
    assert indexed.exit_code == 0, indexed.output
    assert json.loads(indexed.output)["added"] == SONGS
    with Space.open(tmp_path / "songs") as space:
        info = space.info()
        assert info["encoder"] == "landmarks" and info["kind"] == "fingerprints"
        assert info["songs"] == SONGS and info["landmarks"] > SONGS * 500
        rng = np.random.default_rng(3)
        for number in range(SONGS):  # (accuracy on realistic music: bench/audio.py)
            start = float(rng.uniform(0, SECONDS - 6))
            clip = Audio(noisy_clip(songs[number], start, 6.0, 10.0, seed=number), RATE)
            found = space.search_audio(clip, k=3)
            expected = f"more/song-{number}.wav" if number % 2 else f"song-{number}.wav"
            assert found and found[0].id == expected
            assert abs(found[0].offset_s - start) < 0.05
            assert 0.6 <= found[0].confidence <= 1 and found[0].score >= 12
    clip = write_clip(
        tmp_path / "clip.wav", noisy_clip(songs[2], 7.5, 4.0, 10.0, seed=9), subtype="PCM_16"
    )
    shown = run("search", str(tmp_path / "songs"), "--audio", str(clip), "--json")
    answer = json.loads(shown.output)
    assert answer[0]["id"] == "song-2.wav" and abs(answer[0]["offset_s"] - 7.5) < 0.05
    assert set(answer[0]) == {"id", "score", "offset_s", "confidence", "metadata"}
    table = run("search", str(tmp_path / "songs"), "--audio", str(clip))
    assert "song-2.wav" in table.output and ("7.49" in table.output or "7.50" in table.output)


def test_unknown_noise_and_silence_get_no_match(tmp_path: Path, library: Path) -> None:
    assert run("index", str(tmp_path / "songs"), str(library)).exit_code == 0
    rng = np.random.default_rng(0)
    strangers = [synthesize(seed, 12.0) for seed in range(100, 106)]
    clips = {
        "white noise": rng.standard_normal(5 * RATE).astype(np.float32) * 0.3,
        "silence": np.zeros(5 * RATE, dtype=np.float32),
        **{f"unknown {i}": s[RATE : 6 * RATE] for i, s in enumerate(strangers)},
    }
    with Space.open(tmp_path / "songs") as space:
        for name, samples in clips.items():
            assert space.search_audio(Audio(samples, RATE)) == [], name
    path = write_clip(tmp_path / "noise.wav", clips["white noise"], subtype="PCM_16")
    shown = run("search", str(tmp_path / "songs"), "--audio", str(path), "--json")
    assert shown.exit_code == 0 and json.loads(shown.output) == []
    said = run("search", str(tmp_path / "songs"), "--audio", str(path))
    assert "No match" in said.output


def test_odd_clips_give_a_result_or_one_clear_error(
    tmp_path: Path, library: Path, songs: list[np.ndarray]
) -> None:
    assert run("index", str(tmp_path / "songs"), str(library)).exit_code == 0
    space = str(tmp_path / "songs")
    piece = songs[4][5 * RATE : 9 * RATE]
    import soxr

    for rate in (8000, 192000):
        resampled = soxr.resample(piece, RATE, rate)
        clip = write_clip(tmp_path / f"clip-{rate}.wav", resampled, rate, subtype="PCM_16")
        found = json.loads(run("search", space, "--audio", str(clip), "--json").output)
        assert found and found[0]["id"] == "song-4.wav", rate
    eight = write_clip(
        tmp_path / "eight.wav", np.tile(piece[:, None], (1, 8)) / 2, subtype="PCM_16"
    )
    found = json.loads(run("search", space, "--audio", str(eight), "--json").output)
    assert found[0]["id"] == "song-4.wav"
    short = write_clip(tmp_path / "short.wav", piece[: RATE // 4], subtype="PCM_16")
    assert "at least 0.5 s" in fail("search", space, "--audio", str(short))
    video = tmp_path / "film.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    assert "not a readable audio file" in fail("search", space, "--audio", str(video))
    assert "No audio file" in fail("search", space, "--audio", str(tmp_path / "none.wav"))
    assert "not text" in fail("search", space, "a text query")
    assert "(one of them)" in fail("search", space, "text", "--audio", str(short))


def test_fingerprints_follow_their_items(tmp_path: Path, library: Path) -> None:
    target = str(tmp_path / "songs")
    assert run("index", target, str(library)).exit_code == 0
    again = json.loads(run("index", target, str(library), "--json").output)
    assert again["unchanged"] == SONGS and again["embedded"] == 0

    def stored() -> tuple[int, int]:
        connection = sqlite3.connect(tmp_path / "songs" / "space.db")
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM landmarks), (SELECT count(*) FROM fingerprints)"
        ).fetchone()
        connection.close()
        return int(counts[0]), int(counts[1])

    before, songs_before = stored()
    (library / "song-0.wav").unlink()
    synced = json.loads(run("index", target, str(library), "--sync", "--json").output)
    assert synced["removed"] == 1
    after, songs_after = stored()
    assert songs_after == songs_before - 1 and 0 < after < before
    with Space.open(target) as space:
        assert space.info()["landmarks"] == after


def test_a_failed_write_leaves_no_landmarks(
    tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedspace.store import fingerprints

    def broken(*args: object) -> None:
        raise OSError("disk unplugged")

    monkeypatch.setattr(fingerprints, "write", broken)
    records = [r for r in read_folder(library) if isinstance(r, Record)]
    with (
        pytest.raises(OSError, match="disk unplugged"),
        Space.create(tmp_path / "songs", encoder="landmarks") as space,
    ):
        space.upsert(records)
    monkeypatch.undo()
    with Space.open(tmp_path / "songs") as space:
        assert len(space) == 0 and space.info()["landmarks"] == 0


def test_songs_and_vectors_do_not_mix(tmp_path: Path, library: Path) -> None:
    with (
        Space.create(tmp_path / "songs", encoder="landmarks") as space,
        pytest.raises(InvalidInput, match="holds song fingerprints"),
    ):
        space.upsert(["a text"])
    with Space.create(tmp_path / "texts", encoder="hashing") as space:
        with pytest.raises(InvalidInput, match="not song fingerprints"):
            space.search_audio(library / "song-0.wav")
        with pytest.raises(InvalidInput, match="do not embed sound"):
            space.search_sound(library / "song-0.wav")
    message = fail("index", str(tmp_path / "texts"), str(library))
    assert "does not embed sound" in message


def test_digital_silence_makes_no_landmarks_and_matches_nothing(
    tmp_path: Path, songs: list[np.ndarray]
) -> None:
    assert len(landmarks.fingerprint_samples(np.zeros(4 * 8000, dtype=np.float32)).hashes) == 0
    padded = np.concatenate([songs[0], np.zeros(3 * RATE, dtype=np.float32), songs[1]])
    write_clip(tmp_path / "ripped.wav", padded, subtype="PCM_16")
    assert run("index", str(tmp_path / "songs"), str(tmp_path / "ripped.wav")).exit_code == 0
    with Space.open(tmp_path / "songs") as space:
        assert space.search_audio(Audio(np.zeros(3 * RATE, dtype=np.float32), RATE)) == []
        quiet = np.random.default_rng(0).standard_normal(3 * RATE).astype(np.float32) * 1e-6
        assert space.search_audio(Audio(quiet, RATE)) == []


def test_two_copies_of_a_song_are_both_found(tmp_path: Path, library: Path) -> None:
    import shutil

    shutil.copy(library / "song-0.wav", library / "copy-of-0.wav")
    assert run("index", str(tmp_path / "songs"), str(library)).exit_code == 0
    clip = write_clip(
        tmp_path / "clip.wav", synthesize(0, SECONDS)[5 * RATE : 9 * RATE], subtype="PCM_16"
    )
    found = json.loads(
        run("search", str(tmp_path / "songs"), "--audio", str(clip), "-k", "3", "--json").output
    )
    assert {f["id"] for f in found} == {"song-0.wav", "copy-of-0.wav"}
    assert all(f["confidence"] > 0.6 for f in found)


def test_alignment_is_exact_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from embedspace.store import fingerprints

    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 1 << 24, size=40).astype(np.int64)
    times = np.sort(rng.integers(0, 300, size=40)).astype(np.int32)
    clip = landmarks.Fingerprint(hashes, times, 300, np.zeros(31, dtype=np.float32))
    stored = np.stack([hashes, np.full(40, 7), times.astype(np.int64) + 100], axis=1)
    noise = np.stack([hashes[:5], np.full(5, 8), rng.integers(0, 9000, size=5)], axis=1)
    (best, other) = fingerprints.align(clip, np.concatenate([stored, noise]))
    assert (best.item, best.delta, best.score) == (
        7,
        100,
        len(set(zip(times, hashes >> 15, strict=True))),
    )
    assert other.item == 8 and other.score <= 5
    # the commonest hashes are left out when pairing everything would cost too much
    common = np.stack([np.full(1000, hashes[0]), np.arange(1000) + 100, np.arange(1000)], axis=1)
    monkeypatch.setattr(fingerprints, "MAX_PAIRS", 500)
    (best, *_) = fingerprints.align(clip, np.concatenate([stored, common]))
    assert (best.item, best.delta) == (7, 100)


def test_default_encoder_is_landmarks_for_sounds_alone() -> None:
    from embedspace.ops.ingest import default_encoder

    assert default_encoder({"audio"}) == "landmarks"
    assert default_encoder({"audio", "image"}) == "imagenet-bridge"
    assert default_encoder({"audio", "text"}) == "minilm-l6"


def test_a_song_space_is_not_copied_half(tmp_path: Path, library: Path) -> None:
    assert run("index", str(tmp_path / "songs"), str(library)).exit_code == 0
    message = fail("export", str(tmp_path / "songs"), "--to", str(tmp_path / "copy"))
    assert "holds song fingerprints" in message and not (tmp_path / "copy").exists()


def test_a_clip_over_ten_minutes_is_one_clear_error(tmp_path: Path, library: Path) -> None:
    assert run("index", str(tmp_path / "songs"), str(library)).exit_code == 0
    hour = write_clip(
        tmp_path / "long.wav", np.full(601 * 8000, 0.1, dtype=np.float32), 8000, subtype="PCM_16"
    )
    message = fail("search", str(tmp_path / "songs"), "--audio", str(hour))
    assert "longer than 600 s" in message and "cut a shorter clip" in message


def test_a_sound_too_short_to_find_is_not_indexed_as_a_song(
    tmp_path: Path, library: Path, songs: list[np.ndarray]
) -> None:
    write_clip(library / "blip.wav", songs[0][: RATE // 5], subtype="PCM_16")
    indexed = run("index", str(tmp_path / "songs"), str(library), "--json")
    report = json.loads(indexed.stdout)
    assert report["added"] == SONGS and report["rejected"] == 1
    assert "blip.wav: is 0.2 s long, and encoder 'landmarks' needs at least 0.5 s" in (
        indexed.stderr
    )


def test_read_audio_records_takes_a_file_or_a_folder(tmp_path: Path, library: Path) -> None:
    import embedspace as es

    (library / "notes.txt").write_text("not a sound")
    found = list(es.read_audio_records(library))
    assert sorted(r.id for r in found if isinstance(r, Record)) == sorted(
        [
            "song-0.wav",
            "song-2.wav",
            "song-4.wav",
            "more/song-1.wav",
            "more/song-3.wav",
            "more/song-5.wav",
        ]
    )
    (single,) = es.read_audio_records(library / "song-0.wav")
    assert isinstance(single, Record) and single.id == "song-0.wav"
    with pytest.raises(InvalidInput, match="Not found"):
        list(es.read_audio_records(tmp_path / "nowhere"))
