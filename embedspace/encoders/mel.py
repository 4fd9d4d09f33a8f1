"""Mel spectrograms in numpy, computed as librosa computes them.

Written here rather than taken from librosa, which is not a dependency of embedspace (it
pulls in numba and llvmlite for a few lines of signal processing). The conventions are
librosa's: a periodic Hann window, frames centred on multiples of the hop with zeros
beyond the ends (``center=True, pad_mode="constant"``, its default since 0.9), power
spectra, and triangular mel filters on the HTK or Slaney scale, each scaled to unit sum
(``norm=1.0``) or unit area (``norm="slaney"``). tests/test_encoders_aisfx.py checks them
against the formulas; the numbers were compared with librosa 0.11 (max abs difference of
log-mel values 2e-5, filter weights 6e-8).
"""

from __future__ import annotations

import numpy as np

#: Frames transformed at once: bounds the memory of a long sound's spectrogram.
FRAMES_PER_CHUNK = 1024


def hz_to_mel(hz: np.ndarray | float, *, htk: bool) -> np.ndarray:
    """Mel of frequencies in Hz: HTK's ``2595 log10(1 + f/700)``, or Slaney's (linear to
    1 kHz, logarithmic above), as librosa's ``hz_to_mel``."""
    frequencies = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + frequencies / 700.0)  # type: ignore[no-any-return]
    linear = frequencies / (200.0 / 3)
    break_mel = 1000.0 / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = break_mel + np.log(np.maximum(frequencies, 1000.0) / 1000.0) / log_step
    return np.where(frequencies >= 1000.0, above, linear)


def mel_to_hz(mel: np.ndarray | float, *, htk: bool) -> np.ndarray:
    """The inverse of ``hz_to_mel``."""
    mels = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)  # type: ignore[no-any-return]
    break_mel = 1000.0 / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = 1000.0 * np.exp(log_step * (np.maximum(mels, break_mel) - break_mel))
    return np.where(mels >= break_mel, above, mels * (200.0 / 3))


def mel_filterbank(
    rate: int,
    n_fft: int,
    bands: int,
    *,
    f_min: float = 0.0,
    f_max: float | None = None,
    htk: bool = True,
    norm: str | float | None = 1.0,
) -> np.ndarray:
    """Triangular mel filters, float32 ``(bands, n_fft // 2 + 1)``: band ``i`` rises from
    mel edge ``i`` to ``i + 1`` and falls to ``i + 2``, the ``bands + 2`` edges evenly spaced
    in mel between ``f_min`` and ``f_max`` (default ``rate / 2``). ``norm=1.0`` scales each
    band to unit sum, ``"slaney"`` to unit area (2 / bandwidth in Hz), ``None`` leaves peaks
    at 1; as ``librosa.filters.mel``."""
    top = rate / 2.0 if f_max is None else f_max
    bins = np.fft.rfftfreq(n_fft, d=1.0 / rate)
    edges = mel_to_hz(
        np.linspace(hz_to_mel(f_min, htk=htk), hz_to_mel(top, htk=htk), bands + 2), htk=htk
    )
    widths = np.diff(edges)
    distance = edges[:, None] - bins[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif isinstance(norm, int | float):
        sums = np.sum(np.abs(weights) ** norm, axis=1, keepdims=True) ** (1.0 / norm)
        weights /= np.where(sums > np.finfo(np.float32).tiny, sums, 1.0)
    elif norm is not None:
        raise ValueError(f"norm must be None, 'slaney' or a number, not {norm!r}")
    filters: np.ndarray = weights.astype(np.float32)
    return filters


def frame_count(length: int, hop: int) -> int:
    """Frames of a centred STFT of ``length`` samples: ``1 + length // hop``."""
    return 1 + length // hop


def power_mel_frames(
    samples: np.ndarray, start: int, stop: int, *, n_fft: int, hop: int, filters: np.ndarray
) -> np.ndarray:
    """Mel power spectra of frames ``start .. stop - 1`` of a centred STFT of ``samples``,
    float32 ``(stop - start, bands)``. Frame ``t`` is centred on sample ``t * hop``, zeros
    outside the sound; long ranges are transformed in chunks, so memory stays bounded."""
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    out = np.empty((stop - start, filters.shape[0]), dtype=np.float32)
    for first in range(start, stop, FRAMES_PER_CHUNK):
        last = min(stop, first + FRAMES_PER_CHUNK)
        segment = _segment(samples, first * hop - n_fft // 2, (last - 1) * hop + n_fft // 2)
        frames = np.lib.stride_tricks.sliding_window_view(segment, n_fft)[::hop]
        spectrum = np.fft.rfft(frames * window, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        out[first - start : last - start] = power @ filters.T
    return out


def _segment(samples: np.ndarray, begin: int, end: int) -> np.ndarray:
    """``samples[begin:end]`` as float32, with zeros where the range runs past either end."""
    segment = np.zeros(end - begin, dtype=np.float32)
    low, high = max(begin, 0), min(end, len(samples))
    if high > low:
        segment[low - begin : high - begin] = samples[low:high]
    return segment
