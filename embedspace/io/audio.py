"""Audio files and folders as Records, and decoding them the same way every time.

Decoding is libsndfile's (``soundfile``: WAV, FLAC, OGG Vorbis/Opus, MP3), resampling
soxr's; both stream in blocks, so a two-hour file never sits in memory at its own rate.
Every file is mixed down to mono. A Record's ``content`` is the file's absolute path, its
``id`` the path relative to the folder named, its metadata the file's facts (duration,
sample rate, channels). Every file is decoded once while reading, so a corrupt, truncated,
silent or empty file becomes a Rejection naming its path before anything is written.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.errors import InvalidInput, MissingExtra, TooLarge
from embedspace.io.images import file_facts
from embedspace.io.records import Record, Rejection

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3"})
#: Sounds shorter than this hold nothing to embed or fingerprint.
MIN_SECONDS = 0.05
#: Peak level (of full scale) below which a file counts as silent: -80 dBFS.
SILENCE = 1e-4
#: libsndfile's log line for a data chunk longer than the file: "data : 44100 (should be
#: 22028)". It then reads what is there, so this is how a truncated WAV shows.
_SHORT_DATA = re.compile(r"^data\s*:\s*\d+\s*\(should be \d+\)", re.MULTILINE)
#: Frames decoded per block.
_BLOCK = 1 << 18
#: A file may hold fewer frames than its header says by this share before it counts as
#: truncated (MP3 headers only estimate the length).
_SLACK = 0.01


@dataclass(frozen=True, slots=True)
class Audio:
    """Sound already in memory: mono (or ``(frames, channels)``) samples at ``rate`` Hz.
    Encoders take it wherever they take an audio file."""

    samples: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        """The duration."""
        return len(self.samples) / self.rate if self.rate > 0 else 0.0


@dataclass(frozen=True, slots=True)
class AudioFacts:
    """What a file's header says: duration, sample rate, channels and format."""

    seconds: float
    rate: int
    channels: int
    frames: int
    format: str
    #: The header promises more data than the file holds (libsndfile reads what is there).
    short: bool = False


def _soundfile() -> Any:
    try:
        import soundfile
    except (ImportError, OSError):
        raise MissingExtra("Reading audio", "audio", "soundfile") from None
    return soundfile


def _soxr() -> Any:
    try:
        import soxr
    except ImportError:
        raise MissingExtra("Resampling audio", "audio", "soxr") from None
    return soxr


def is_audio_path(path: Path) -> bool:
    """Whether ``path`` has one of the supported audio suffixes (case-insensitive)."""
    return path.suffix.lower() in AUDIO_SUFFIXES


def _describe(source: str | Path | bytes) -> str:
    return "The upload" if isinstance(source, bytes) else str(source)


def _unreadable(source: str | Path | bytes, error: BaseException) -> InvalidInput:
    kinds = "WAV, FLAC, OGG or MP3"
    detail = str(error).split("\n")[0] or type(error).__name__
    detail = re.sub(r"^Error opening .*?: ", "", detail)  # libsndfile repeats the path
    return InvalidInput(f"{_describe(source)} is not a readable audio file ({kinds}): {detail}")


def _opened(source: str | Path | bytes) -> Any:
    soundfile = _soundfile()
    target = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        return soundfile.SoundFile(target)
    except (RuntimeError, TypeError, ValueError, OSError) as error:  # LibsndfileError
        if isinstance(error, FileNotFoundError) or (
            not isinstance(source, bytes) and not Path(source).exists()
        ):
            raise InvalidInput(f"Not found: {_describe(source)}. Check the path.") from None
        raise _unreadable(source, error) from None


def audio_facts(source: str | Path | bytes) -> AudioFacts:
    """The header of an audio file (or uploaded bytes); ``InvalidInput`` if unreadable."""
    with _opened(source) as opened:
        frames = int(opened.frames)
        rate = int(opened.samplerate)
        return AudioFacts(
            seconds=frames / rate if rate else 0.0,
            rate=rate,
            channels=int(opened.channels),
            frames=frames,
            format=str(opened.format).lower(),
            short=bool(_SHORT_DATA.search(str(opened.extra_info))),
        )


def _mono_blocks(source: str | Path | bytes) -> Iterator[tuple[np.ndarray, int, int]]:
    """``(mono float32 block, rate, frames declared)`` per block of the decoded file."""
    with _opened(source) as opened:
        rate, declared = int(opened.samplerate), int(opened.frames)
        try:
            while True:
                block = opened.read(_BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    return
                yield block.mean(axis=1, dtype=np.float32), rate, declared
        except (RuntimeError, ValueError, OSError) as error:
            raise _unreadable(source, error) from None


def load_audio(
    source: str | Path | bytes | Audio, rate: int, *, max_seconds: float | None = None
) -> np.ndarray:
    """Decode ``source`` (a file, its bytes, or ``Audio``) to mono float32 at ``rate`` Hz.

    Raises ``InvalidInput`` naming the file when it cannot be decoded, and ``TooLarge``
    when it is longer than ``max_seconds``."""
    if isinstance(source, Audio):
        return _resampled_array(source, rate, max_seconds)
    soxr = _soxr()
    pieces: list[np.ndarray] = []
    stream = None
    seconds = 0.0
    for block, own_rate, _ in _mono_blocks(source):
        seconds += len(block) / own_rate
        if max_seconds is not None and seconds > max_seconds:
            raise TooLarge(
                f"{_describe(source)} is longer than {max_seconds:g} s; cut a shorter clip "
                "(e.g. sox in.wav clip.wav trim 0 30)."
            )
        if own_rate == rate:
            pieces.append(block)
            continue
        if stream is None:
            stream = soxr.ResampleStream(own_rate, rate, 1, dtype="float32", quality="HQ")
        pieces.append(stream.resample_chunk(block))
    if stream is not None:
        pieces.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32)


def _resampled_array(audio: Audio, rate: int, max_seconds: float | None) -> np.ndarray:
    samples = np.asarray(audio.samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if samples.ndim != 1 or not isinstance(audio.rate, int | np.integer) or audio.rate <= 0:
        raise InvalidInput(
            "Audio takes samples of shape (n,) or (n, channels) and a positive whole rate in "
            f"Hz; got shape {samples.shape} at {audio.rate!r}."
        )
    if not np.isfinite(samples).all():
        raise InvalidInput("The audio samples hold NaN or infinity.")
    if max_seconds is not None and audio.seconds > max_seconds:
        raise TooLarge(f"The audio is longer than {max_seconds:g} s; cut a shorter clip.")
    if int(audio.rate) == rate:
        return np.ascontiguousarray(samples)
    resampled = _soxr().resample(samples, int(audio.rate), rate, quality="HQ")
    return np.ascontiguousarray(resampled, dtype=np.float32)


def upload_suffix(data: bytes, filename: str | None) -> str:
    """The file suffix to store uploaded sound under: the upload's own if it names an audio
    format, else ``.wav``; ``InvalidInput`` if libsndfile cannot read the bytes at all."""
    audio_facts(data)  # readable, or InvalidInput ("The upload is not a readable ...")
    suffix = Path(filename or "").suffix.lower()
    return suffix if suffix in AUDIO_SUFFIXES else ".wav"


def check_audio(file: Path) -> AudioFacts:
    """Decode ``file`` once: its facts if it holds audible sound, else ``InvalidInput``
    saying what is wrong (empty, truncated, silent, or not audio)."""
    facts = audio_facts(file)
    if facts.frames == 0:
        raise InvalidInput(f"{file} holds no audio (zero length)")
    peak, frames = 0.0, 0
    for block, _, _ in _mono_blocks(file):
        frames += len(block)
        if len(block):
            peak = max(peak, float(np.abs(block).max()))
    if frames < facts.rate * MIN_SECONDS:
        raise InvalidInput(f"{file} holds no audio (zero length, or under {MIN_SECONDS} s)")
    if facts.short:
        raise InvalidInput(f"{file} is truncated: its header promises more sound than it holds")
    if frames < facts.frames * (1 - _SLACK):
        raise InvalidInput(
            f"{file} is truncated: its header promises {facts.seconds:.1f} s, only "
            f"{frames / facts.rate:.1f} s could be decoded"
        )
    if not np.isfinite(peak):
        raise InvalidInput(f"{file} holds invalid samples (NaN or infinity)")
    if peak < SILENCE:
        raise InvalidInput(f"{file} is silent (its peak is below -80 dBFS)")
    return AudioFacts(frames / facts.rate, facts.rate, facts.channels, frames, facts.format)


def audio_record(file: Path, root: Path) -> Record | Rejection:
    """One audio file as a Record (id: its path relative to ``root``), after decoding it
    once; a Rejection naming the file when it is not readable, audible audio."""
    relative = file.relative_to(root).as_posix()
    if not is_audio_path(file):
        suffixes = ", ".join(sorted(AUDIO_SUFFIXES))
        return Rejection(str(file), 0, f"is not a supported audio file ({suffixes})")
    try:
        facts = check_audio(file)
    except InvalidInput as error:
        return Rejection(str(file), 0, str(error).removeprefix(f"{file} "))
    metadata = {
        "path": relative,
        **file_facts(file),
        "duration_s": round(facts.seconds, 3),
        "sample_rate": facts.rate,
        "channels": facts.channels,
        "format": file.suffix.lower().lstrip("."),
    }
    return Record(id=relative, content=str(file.resolve()), metadata=metadata, modality="audio")
