"""Landmark fingerprints of sound, in the manner of Wang (2003), "An Industrial-Strength
Audio Search Algorithm" (the Shazam paper): what "what song is this?" looks up.

A sound is resampled to 8 kHz mono and cut into a magnitude spectrogram (1,024-sample Hann
windows every 128 samples: 16 ms frames, 7.8 Hz bins). Its peaks (points louder than every
other in a neighbourhood of the time-frequency plane, the strongest few per second) are a
constellation that survives noise and lossy coding. Each peak (an anchor) is paired with a
few peaks just after it (its target zone); a pair is one landmark: a hash of (anchor
frequency, target frequency, time between them) plus the anchor's time. A clip of a song
shares many landmarks with the song, all at the same time offset; that alignment is what
identification votes on (``store/fingerprints.py``).

Written here, from the paper, because the maintained implementations (Olaf, Panako) are
AGPL and the permissive ones are unmaintained; numpy and scipy do the signal work.

The encoder's vectors are a coarse sound profile (the mean loudness of 31 frequency bands,
spaced evenly in log frequency, centred): enough for "similar" and clustering to group
songs by timbre, not to tell them apart. Identification uses the landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from embedspace.encoders.sound import SoundEncoder
from embedspace.errors import EmbedspaceError, MissingExtra
from embedspace.io.audio import load_audio
from embedspace.progress import ProgressCallback, report

RATE = 8000
WINDOW = 1024
HOP = 128
#: Seconds per spectrogram frame (offsets are counted in frames).
FRAME_SECONDS = HOP / RATE
BINS = 512  # frequency bins kept (0 .. 3,992 Hz); 9 bits
LOWEST_BIN = 4  # below ~31 Hz: rumble, no peaks there
#: The neighbourhood a peak must top: bins x frames (about 190 Hz x 0.2 s).
NEIGHBOURHOOD = (25, 13)
FRAMES_PER_WINDOW = 63  # about one second: the strongest peaks of each window are kept
#: Landmark pairing: targets MIN_DT..MAX_DT frames after the anchor (6 bits), within MAX_DF
#: bins. Not sooner than MIN_DT: the harmonics of one note start together, and pairs of
#: them would match any song that plays that note (two events make a landmark, not one).
MIN_DT = 4
MAX_DT = 63
MAX_DF = 127
PROFILE_BANDS = 32
#: The quietest a peak may be: a log magnitude of 0.01, a tone at about -88 dBFS (16-bit
#: dither is quieter). Digital silence, where every point equals its neighbours, has none.
FLOOR = float(np.log(0.01))
#: Frames of spectrogram computed at once, a multiple of the density window (a long file
#: is analysed in segments, so memory stays bounded).
SEGMENT = FRAMES_PER_WINDOW * 60


@dataclass(frozen=True, slots=True)
class Density:
    """How many landmarks to make: peaks kept per second and targets per anchor."""

    peaks_per_second: int
    fan_out: int


#: Stored fingerprints are sparse (storage grows with them); queries are denser, so that a
#: noisy clip still holds the stored pairs.
INDEX_DENSITY = Density(peaks_per_second=30, fan_out=6)
QUERY_DENSITY = Density(peaks_per_second=60, fan_out=16)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The landmarks of one sound: ``hashes`` (int64, 24 bits used) with the frame of each
    anchor (``offsets``, int32), the sound's length in frames, and its sound profile."""

    hashes: np.ndarray
    offsets: np.ndarray
    frames: int
    profile: np.ndarray

    @property
    def seconds(self) -> float:
        """The sound's duration."""
        return self.frames * FRAME_SECONDS


def _scipy() -> tuple[Any, Any]:
    try:
        from scipy import fft, ndimage
    except ImportError:
        raise MissingExtra("Audio fingerprints", "audio", "scipy") from None
    return fft, ndimage


def _band_edges() -> np.ndarray:
    """Bin edges of the profile's bands, spaced evenly in log frequency."""
    edges = np.geomspace(LOWEST_BIN, BINS, PROFILE_BANDS + 1)
    return np.unique(np.round(edges).astype(np.int64))


def _spectrogram(samples: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Log magnitude of frames ``start .. stop`` (clipped to the sound): ``(BINS, frames)``."""
    fft, _ = _scipy()
    first = start * HOP
    needed = (stop - start - 1) * HOP + WINDOW
    piece = samples[first : first + needed]
    if len(piece) < needed:
        piece = np.pad(piece, (0, needed - len(piece)))
    frames = np.lib.stride_tricks.sliding_window_view(piece, WINDOW)[::HOP]
    spectrum = np.abs(fft.rfft(frames * np.hanning(WINDOW).astype(np.float32), axis=1))
    return np.asarray(np.log(spectrum[:, :BINS].T + 1e-6), dtype=np.float32)


def frame_count(samples: np.ndarray) -> int:
    """Spectrogram frames of a sound (the last one padded)."""
    return max(1, -(-max(len(samples) - WINDOW, 0) // HOP) + 1)


def find_peaks(samples: np.ndarray, density: Density) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The constellation, ``(frames, bins)`` of the spectrogram's peaks sorted by frame,
    and the sound's profile: the mean log loudness of each band."""
    _, ndimage = _scipy()
    total = frame_count(samples)
    margin = NEIGHBOURHOOD[1] // 2
    times, bins = [], []
    edges = _band_edges()
    profile = np.zeros(len(edges) - 1, dtype=np.float64)
    # a full-scale sine through the Hann window peaks at WINDOW / 4 in its bin
    loudest = float(np.log(float(np.abs(samples).max(initial=0.0)) * WINDOW / 4 + 1e-6))
    for start in range(0, total, SEGMENT):
        stop = min(total, start + SEGMENT)
        lo, hi = max(0, start - margin), min(total, stop + margin)
        spectrum = _spectrogram(samples, lo, hi)
        core = spectrum[:, start - lo : start - lo + (stop - start)]
        profile += np.add.reduceat(core[LOWEST_BIN:], edges[:-1] - LOWEST_BIN, axis=0).sum(1)
        ceiling = ndimage.maximum_filter(spectrum, size=NEIGHBOURHOOD, mode="nearest")
        # a peak tops its neighbourhood, stands 70 dB (in natural log: 8) or less below the
        # loudest a bin of this sound can be, and is audible at all (FLOOR): no peaks in
        # silence, and the same peaks however the sound is cut into segments
        loud = spectrum > max(loudest - 8.0, FLOOR)
        is_peak = (spectrum == ceiling) & loud
        is_peak[:LOWEST_BIN] = False
        f, t = np.nonzero(is_peak[:, start - lo : start - lo + (stop - start)])
        t = t + start
        keep = _strongest_per_window(t, core[f, t - start], density.peaks_per_second)
        times.append(t[keep])
        bins.append(f[keep])
    t_all = np.concatenate(times).astype(np.int32)
    f_all = np.concatenate(bins).astype(np.int32)
    order = np.lexsort((f_all, t_all))
    widths = np.diff(edges).astype(np.float64) * total
    return t_all[order], f_all[order], (profile / widths).astype(np.float32)


def _strongest_per_window(times: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` strongest peaks in each window of ``FRAMES_PER_WINDOW``
    frames (windows start at frame 0, so every segment cuts them alike)."""
    if not len(times):
        return np.zeros(0, dtype=np.int64)
    window = times // FRAMES_PER_WINDOW
    order = np.lexsort((-values, window))
    ranked = window[order]
    starts = np.searchsorted(ranked, ranked, side="left")
    rank = np.arange(len(order)) - starts
    return np.sort(order[rank < count])


def pair_landmarks(
    times: np.ndarray, bins: np.ndarray, fan_out: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pair each peak with up to ``fan_out`` of the next peaks in its target zone (``MIN_DT``
    to ``MAX_DT`` frames later, at most ``MAX_DF`` bins away): ``(hashes, anchor frames)``.
    A hash packs the anchor bin (9 bits), the target bin (9 bits) and the gap (6 bits)."""
    count = len(times)
    hashes, anchors = [], []
    taken = np.zeros(count, dtype=np.int64)
    starts = np.searchsorted(times, times + MIN_DT, side="left")
    ends = np.searchsorted(times, times + MAX_DT, side="right")
    # scan the following peaks in time order; a few too many, as some fall out of the zone
    for step in range(4 * fan_out):
        target = starts + step
        inside = (target < ends) & (taken < fan_out)
        if not inside.any():
            break
        anchor = np.nonzero(inside)[0]
        target = target[anchor]
        gap = times[target] - times[anchor]
        near = np.abs(bins[target] - bins[anchor]) <= MAX_DF
        anchor, target, gap = anchor[near], target[near], gap[near]
        taken[anchor] += 1
        hashes.append(
            (bins[anchor].astype(np.int64) << 15) | (bins[target].astype(np.int64) << 6) | gap
        )
        anchors.append(times[anchor])
    if not hashes:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    return np.concatenate(hashes), np.concatenate(anchors).astype(np.int32)


def fingerprint_samples(samples: np.ndarray, density: Density = INDEX_DENSITY) -> Fingerprint:
    """The landmarks of mono float32 samples at ``RATE`` Hz."""
    samples = np.asarray(samples, dtype=np.float32)
    times, bins, profile = find_peaks(samples, density)
    hashes, offsets = pair_landmarks(times, bins, density.fan_out)
    centred = profile - profile.mean()
    norm = float(np.linalg.norm(centred))
    return Fingerprint(
        hashes, offsets, frame_count(samples), centred / norm if norm > 0 else centred
    )


class LandmarkFingerprinter(SoundEncoder):
    """Landmark fingerprints (Wang 2003) for "what song is this?"; its vectors are a coarse
    31-band sound profile. Model-free: nothing to download or load."""

    name = "landmarks"
    modalities: ClassVar[frozenset[str]] = frozenset({"audio"})
    metric = "cosine"
    normalized = True
    sample_rate: ClassVar[int] = RATE
    source = "built in (Wang 2003 landmarks; no model)"
    #: Songs are read at 8 kHz: four hours are 460 MB of samples.
    max_seconds: ClassVar[float] = 4 * 3600.0
    #: A shorter sound holds too few landmarks to be found (clips need as much).
    min_seconds: ClassVar[float] = 0.5
    kind = "fingerprints"

    @property
    def dim(self) -> int:
        """The sound profile's bands."""
        return len(_band_edges()) - 1

    def availability_error(self) -> EmbedspaceError | None:
        """``MissingExtra`` when the audio extra (soundfile, soxr, scipy) is missing."""
        try:
            import scipy  # noqa: F401
            import soundfile  # noqa: F401
            import soxr  # noqa: F401
        except (ImportError, OSError) as error:
            return MissingExtra("Audio fingerprints", "audio", getattr(error, "name", "scipy"))
        return None

    def _embed_sounds(self, sounds: list[np.ndarray]) -> np.ndarray:
        return np.stack([fingerprint_samples(s).profile for s in sounds])

    def decode_clip(self, clip: Any, max_seconds: float) -> np.ndarray:
        """A clip (a file ``Path``, its bytes, or ``Audio``) as samples at ``RATE``."""
        self.check_available()
        return load_audio(clip, RATE, max_seconds=max_seconds)

    def fingerprint(self, samples: np.ndarray, density: Density = INDEX_DENSITY) -> Fingerprint:
        """The landmarks of mono samples at ``RATE`` (``fingerprint_samples``)."""
        return fingerprint_samples(samples, density)

    def fingerprints(
        self,
        items: Sequence[Any],
        *,
        density: Density = INDEX_DENSITY,
        on_progress: ProgressCallback | None = None,
    ) -> list[Fingerprint]:
        """The fingerprint of each sound (a file ``Path``, its bytes, or ``Audio``)."""
        self.check_available()
        stage = f"Fingerprinting with {self.name}"
        made = []
        report(on_progress, stage, 0, len(items))
        for done, item in enumerate(items, start=1):
            samples = load_audio(item, RATE, max_seconds=self.max_seconds)
            made.append(fingerprint_samples(samples, density))
            report(on_progress, stage, done, len(items))
        return made
