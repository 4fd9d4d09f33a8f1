"""Make a small library of synthetic songs and a noisy phone-like clip of one of them.

Each song is a random melody over chords, played by a random instrument (harmonics and
decay) at a random tempo, with a drum-like pulse: different songs share no passage, as
different recordings do not. Nothing is downloaded; numpy makes every sample.

    python examples/make_songs.py songs-audio            # 12 songs of 30 s + clip.wav
    python examples/make_songs.py songs-audio --songs 40 --seconds 60

The clip is 4 s of one song (named in clip.txt), cut at a random point, with white noise at
5 dB signal-to-noise ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

RATE = 22050
SCALE = np.array([0, 2, 4, 5, 7, 9, 11])  # major scale steps


def synthesize(seed: int, seconds: float = 30.0, rate: int = RATE) -> np.ndarray:
    """One synthetic song, mono float32 in [-1, 1], the same for the same seed."""
    rng = np.random.default_rng(seed)
    tempo = rng.uniform(70, 160)  # beats per minute
    beat = 60.0 / tempo
    root = 48 + int(rng.integers(0, 12))  # MIDI note of the key
    harmonics = rng.uniform(0.1, 1.0, size=int(rng.integers(3, 9))) ** 2
    decay = rng.uniform(1.5, 6.0)
    out = np.zeros(int(seconds * rate) + rate, dtype=np.float64)
    time = 0.0
    while time < seconds:
        length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        degree = int(rng.integers(0, 14))
        note = root + 12 * (degree // 7) + SCALE[degree % 7]
        chord = [note - 12, note - 12 + SCALE[(degree + 2) % 7] - SCALE[degree % 7]]
        for midi, level in [(note, 0.6), *((c, 0.25) for c in chord)]:
            _add_note(out, rate, time, length, 440.0 * 2 ** ((midi - 69) / 12), level, harmonics, decay)
        time += length
    _add_pulse(out, rate, beat, seconds, rng)
    out = out[: int(seconds * rate)]
    return (0.8 * out / np.abs(out).max()).astype(np.float32)


def _add_note(
    out: np.ndarray,
    rate: int,
    start: float,
    length: float,
    frequency: float,
    level: float,
    harmonics: np.ndarray,
    decay: float,
) -> None:
    first = int(start * rate)
    t = np.arange(int(length * rate)) / rate
    envelope = np.exp(-decay * t) * np.minimum(1.0, t * 200)
    tone = np.zeros_like(t)
    for number, weight in enumerate(harmonics, start=1):
        if frequency * number < rate / 2:
            tone += weight * np.sin(2 * np.pi * frequency * number * t)
    stop = min(len(out), first + len(t))
    out[first:stop] += level * (envelope * tone)[: stop - first]


def _add_pulse(
    out: np.ndarray, rate: int, beat: float, seconds: float, rng: np.random.Generator
) -> None:
    hit = rng.standard_normal(int(0.05 * rate)) * np.exp(-np.arange(int(0.05 * rate)) / (0.01 * rate))
    for start in np.arange(0, seconds, beat):
        first = int(start * rate)
        stop = min(len(out), first + len(hit))
        out[first:stop] += 0.3 * hit[: stop - first]


def noisy_clip(
    song: np.ndarray, start_s: float, seconds: float, snr_db: float, seed: int, rate: int = RATE
) -> np.ndarray:
    """``seconds`` of ``song`` from ``start_s``, with white noise at ``snr_db``."""
    clip = song[int(start_s * rate) : int((start_s + seconds) * rate)].astype(np.float64)
    power = float(np.mean(clip**2))
    noise = np.random.default_rng(seed).standard_normal(len(clip))
    clip = clip + noise * np.sqrt(power / 10 ** (snr_db / 10))
    return (clip / max(1.0, float(np.abs(clip).max()))).astype(np.float32)


def main() -> None:
    """Write the songs (library/song-NN.wav), clip.wav and clip.txt into a folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--songs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    import soundfile

    library = args.folder / "library"
    library.mkdir(parents=True, exist_ok=True)
    songs = []
    for number in range(args.songs):
        song = synthesize(number, args.seconds)
        soundfile.write(library / f"song-{number:02d}.wav", song, RATE, subtype="PCM_16")
        songs.append(song)
    rng = np.random.default_rng(2026)
    chosen = int(rng.integers(0, args.songs))
    start = float(rng.uniform(0, args.seconds - 4))
    clip = noisy_clip(songs[chosen], start, 4.0, 5.0, seed=7)
    soundfile.write(args.folder / "clip.wav", clip, RATE, subtype="PCM_16")
    (args.folder / "clip.txt").write_text(f"song-{chosen:02d}.wav from {start:.2f} s\n")
    print(f"Wrote {args.songs} songs to {library} and a 4 s clip of song-{chosen:02d} from {start:.2f} s, 5 dB SNR, to {args.folder / 'clip.wav'}")


if __name__ == "__main__":
    main()
