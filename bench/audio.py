"""What song is this? (issue 16): landmark fingerprints (``embedspace search --audio``)
against Chromaprint (``fpcalc``, whole-file fingerprints), on the same queries in one run.

The corpus is rendered here, offline: random General MIDI pieces (a melody, chords, a bass
line and drums, several instruments, 70-160 bpm, written with mido) played by Debian's
``fluidsynth`` through the FluidR3 GM soundfont. ``--songs`` pieces are indexed; ``--unknown``
more are rendered the same way and never indexed. Queries are cut at random offsets of
indexed pieces (1, 2, 3, 5 and 10 s), sent through an MP3 round trip (ffmpeg, 64 kbit/s),
then mixed with white noise at 20, 10, 5 and 0 dB SNR. Unknown clips (same lengths, 5 dB)
measure false matches: any answer is a false match.

Chromaprint's answer is the indexed piece whose fingerprint agrees best with the clip's at
any alignment (fewest differing bits: a linear scan, its best case); it answers when at most
``CHROMA_MAX_ERROR`` of the bits differ (35%, where unrelated audio sits near 50%), else
"no match". When fpcalc returns no fingerprint for a clip (too short), that is a miss.

Needs: fluidsynth, fluid-soundfont-gm, ffmpeg and libchromaprint-tools (apt), and mido
(./install.sh --bench).

    .venv/bin/python -m bench.audio [--songs 120] [--unknown 40] [--seconds 45] [--queries 25]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 22050
LENGTHS = (1, 2, 3, 5, 10)
SNRS = (20, 10, 5, 0)
#: General MIDI programs the pieces are played with (piano, organ, guitars, strings,
#: brass, reeds, pipes, mallets, synth lead).
MELODY = (0, 4, 11, 19, 24, 25, 40, 48, 56, 65, 71, 73, 80, 81)
CHORDS = (0, 5, 16, 24, 46, 48, 49, 61, 88, 89)
BASS = (32, 33, 34, 38)
CHROMA_MAX_ERROR = 0.35
SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 4, 7, 9), (0, 3, 5, 7, 10))


def write_midi(path: Path, seed: int, seconds: float) -> None:
    """A random piece: melody, chords, bass and drums, on 4 channels."""
    import mido

    rng = np.random.default_rng(seed)
    tempo = float(rng.uniform(70, 160))
    ticks = 480
    midi = mido.MidiFile(ticks_per_beat=ticks)
    beats = int(seconds * tempo / 60) + 1
    scale = SCALES[int(rng.integers(len(SCALES)))]
    root = 48 + int(rng.integers(12))
    events: list[tuple[int, mido.Message]] = []

    def note(channel: int, pitch: int, start: float, length: float, velocity: int) -> None:
        begin = int(start * ticks)
        events.append(
            (begin, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
        )
        events.append(
            (begin + int(length * ticks), mido.Message("note_off", channel=channel, note=pitch))
        )

    programs = [int(rng.choice(MELODY)), int(rng.choice(CHORDS)), int(rng.choice(BASS))]
    for channel, program in enumerate(programs):
        events.append((0, mido.Message("program_change", channel=channel, program=program)))
    degree, time_at = 7, 0.0
    while time_at < beats:
        length = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        degree = int(np.clip(degree + rng.integers(-3, 4), 0, 2 * len(scale) - 1))
        pitch = root + 12 + 12 * (degree // len(scale)) + scale[degree % len(scale)]
        if rng.random() > 0.1:
            note(0, pitch, time_at, length * 0.9, int(rng.integers(70, 110)))
        time_at += length
    bar = 0
    while bar * 4 < beats:
        step = int(rng.integers(len(scale)))
        chord = [
            root + scale[(step + k) % len(scale)] + 12 * ((step + k) // len(scale))
            for k in (0, 2, 4)
        ]
        for pitch in chord:
            note(1, pitch, bar * 4, 3.8, 60)
        for beat in range(4):
            note(2, root - 12 + scale[step], bar * 4 + beat, 0.9, 80)
        bar += 1
    pattern = rng.integers(0, 2, size=(8, 3))
    for eighth in range(beats * 2):
        kick, snare, hat = pattern[eighth % 8]
        for hit, drum in ((kick, 36), (snare, 38), (1, 42 if hat else 44)):
            if hit:
                note(9, drum, eighth / 2, 0.1, 90)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))
    last = 0
    for at, message in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
        track.append(message.copy(time=at - last))
        last = at
    midi.tracks.append(track)
    midi.save(path)


def render(midi: Path, wav: Path, seconds: float) -> None:
    """Play ``midi`` through fluidsynth into ``wav`` (mono, RATE), cut to ``seconds``."""
    import soundfile

    raw = wav.with_suffix(".raw.wav")
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-g",
            "0.6",
            "-r",
            str(RATE),
            "-F",
            str(raw),
            str(SOUNDFONT),
            str(midi),
        ],
        check=True,
        capture_output=True,
    )
    samples, rate = soundfile.read(raw, dtype="float32", always_2d=True)
    raw.unlink()
    mono = samples.mean(axis=1)[: int(seconds * rate)]
    soundfile.write(wav, mono / max(1e-6, float(np.abs(mono).max())) * 0.9, rate, subtype="PCM_16")


def corpus(folder: Path, count: int, first_seed: int, seconds: float) -> list[Path]:
    """Render ``count`` pieces into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(count):
        midi = folder / f"piece-{first_seed + number:04d}.mid"
        wav = midi.with_suffix(".wav")
        made.append(wav)
        if wav.exists():  # rendered by an earlier run into --keep
            continue
        write_midi(midi, first_seed + number, seconds)
        render(midi, wav, seconds)
        midi.unlink()
    return made


def make_clip(song: Path, start: float, length: float, snr: float, seed: int, out: Path) -> None:
    """``length`` s of ``song`` from ``start``, through MP3 at 64 kbit/s, plus white noise."""
    import soundfile

    samples, rate = soundfile.read(song, dtype="float32")
    piece = samples[int(start * rate) : int((start + length) * rate)]
    plain = out.with_suffix(".plain.wav")
    soundfile.write(plain, piece, rate, subtype="PCM_16")
    mp3 = out.with_suffix(".mp3")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(plain), "-b:a", "64k", str(mp3)],
        check=True,
    )
    decoded, rate = soundfile.read(mp3, dtype="float32", always_2d=True)
    decoded = decoded.mean(axis=1)
    power = float(np.mean(decoded**2)) or 1e-12
    noise = np.random.default_rng(seed).standard_normal(len(decoded)).astype(np.float32)
    noisy = decoded + noise * np.sqrt(power / 10 ** (snr / 10))
    soundfile.write(out, noisy / max(1.0, float(np.abs(noisy).max())), rate, subtype="PCM_16")
    plain.unlink()
    mp3.unlink()


def chromaprint(path: Path) -> np.ndarray:
    """fpcalc's raw fingerprint of a whole file (uint32 per ~0.124 s; empty if too short)."""
    done = subprocess.run(
        ["fpcalc", "-raw", "-json", "-length", "0", "-ignore-errors", str(path)],
        capture_output=True,
        text=True,
    )
    try:
        return np.array(json.loads(done.stdout)["fingerprint"], dtype=np.uint32)
    except (ValueError, KeyError):
        return np.zeros(0, dtype=np.uint32)


def chromaprint_best(query: np.ndarray, songs: list[np.ndarray]) -> int | None:
    """The song whose fingerprint differs from ``query`` in the fewest bits at its best
    alignment (the clip wholly inside the song), if at most ``CHROMA_MAX_ERROR`` of them
    differ; else (and for an empty query) ``None``."""
    if not len(query):
        return None
    best, best_error = None, 1.0
    for index, song in enumerate(songs):
        if len(song) < len(query):
            continue
        windows = np.lib.stride_tricks.sliding_window_view(song, len(query))
        differing = np.unpackbits((windows ^ query).view(np.uint8), axis=1).sum(axis=1)
        error = float(differing.min()) / (32 * len(query))
        if error < best_error:
            best, best_error = index, error
    return best if best_error <= CHROMA_MAX_ERROR else None


def run(folder: Path, songs: int, unknown: int, seconds: float, queries: int) -> None:
    import embedspace as es
    from embedspace.ops.ingest import ingest

    started = time.perf_counter()
    library = corpus(folder / "library", songs, 0, seconds)
    strangers = corpus(folder / "unknown", unknown, 10_000, seconds)
    print(f"rendered {songs + unknown} pieces in {time.perf_counter() - started:.0f} s")
    hours = songs * seconds / 3600

    shutil.rmtree(folder / "space", ignore_errors=True)
    started = time.perf_counter()
    report = ingest(folder / "space", [folder / "library"])
    index_seconds = time.perf_counter() - started
    space = es.Space.open(folder / "space")
    info = space.info()
    started = time.perf_counter()
    prints = [chromaprint(path) for path in library]
    chroma_seconds = time.perf_counter() - started
    chroma_bytes = sum(len(p) * 4 for p in prints)

    rng = np.random.default_rng(16)
    clip = folder / "clip.wav"
    ours: dict[tuple[int, int], list[bool]] = {}
    theirs: dict[tuple[int, int], list[bool]] = {}
    times: list[float] = []
    for length in LENGTHS:
        for snr in SNRS:
            for number in range(queries):
                index = int(rng.integers(songs))
                start = float(rng.uniform(0, seconds - length))
                make_clip(library[index], start, length, snr, number, clip)
                began = time.perf_counter()
                found = space.search_audio(clip, k=1)
                times.append(time.perf_counter() - began)
                ours.setdefault((length, snr), []).append(
                    bool(found) and found[0].id == library[index].name
                )
                theirs.setdefault((length, snr), []).append(
                    chromaprint_best(chromaprint(clip), prints) == index
                )
    false_ours: dict[int, list[bool]] = {}
    false_theirs: dict[int, list[bool]] = {}
    for length in LENGTHS:
        for number in range(queries):
            stranger = strangers[int(rng.integers(unknown))]
            start = float(rng.uniform(0, seconds - length))
            make_clip(stranger, start, length, 5, 1000 + number, clip)
            false_ours.setdefault(length, []).append(bool(space.search_audio(clip, k=1)))
            false_theirs.setdefault(length, []).append(
                chromaprint_best(chromaprint(clip), prints) is not None
            )
    space.close()

    print(f"\n{machine()}")
    print(
        f"{songs} indexed pieces of {seconds:.0f} s ({hours:.2f} h), {unknown} unknown; "
        f"{queries} queries per cell (MP3 64k round trip + white noise)\n"
    )
    print("top-1 accuracy, landmarks (embedspace) / Chromaprint (fpcalc):")
    print("| clip | " + " | ".join(f"{snr} dB" for snr in SNRS) + " |")
    print("|---|" + "---|" * len(SNRS))
    for length in LENGTHS:
        cells = [
            f"{np.mean(ours[(length, snr)]):.0%} / {np.mean(theirs[(length, snr)]):.0%}"
            for snr in SNRS
        ]
        print(f"| {length} s | " + " | ".join(cells) + " |")
    print("\nfalse matches on unknown clips (5 dB), landmarks / Chromaprint:")
    for length in LENGTHS:
        print(
            f"| {length} s | {np.mean(false_ours[length]):.1%} / {np.mean(false_theirs[length]):.1%} |"
        )
    print("\n| | landmarks | Chromaprint |")
    print("|---|---|---|")
    print(
        f"| index speed (x real time) | {songs * seconds / index_seconds:,.0f} | "
        f"{songs * seconds / chroma_seconds:,.0f} |"
    )
    print(
        f"| storage per hour of audio | {info['database_bytes'] / hours / 1e6:.1f} MB "
        f"(space database, {info['landmarks'] / hours / 3600:.0f} landmarks/s) | "
        f"{chroma_bytes / hours / 1e6:.2f} MB (raw fingerprints) |"
    )
    print(
        f"| query time, median (p95) | {statistics.median(times) * 1000:.1f} ms "
        f"({np.percentile(times, 95) * 1000:.1f} ms) | (fpcalc + a linear scan) |"
    )
    print(f"\nindexed: {report.added} added, {len(report.rejected)} rejected")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=120)
    parser.add_argument("--unknown", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--queries", type=int, default=25)
    parser.add_argument(
        "--keep", type=Path, help="Render into this folder and keep it (reused when run again)."
    )
    args = parser.parse_args()
    for tool in ("fluidsynth", "ffmpeg", "fpcalc"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is missing: apt-get install fluidsynth fluid-soundfont-gm ffmpeg libchromaprint-tools"
            )
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-audio-"))
    try:
        run(folder, args.songs, args.unknown, args.seconds, args.queries)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
