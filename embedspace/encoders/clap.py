"""Real CLAP models (texts and sounds in one space) from transformers ``ClapModel`` folders.

No package ships CLAP weights, so a CLAP model comes from a folder the user names (saved
with ``save_pretrained``: ``config.json`` with ``model_type`` ``clap``, the weights, the
tokenizer and the feature extractor's ``preprocessor_config.json``). Nothing is downloaded.
It runs on torch (extra ``clip``) until ``embedspace export-onnx FOLDER`` has written
``FOLDER/onnx/text.onnx`` and ``audio.onnx``; from then on, on onnxruntime.

Both towers' outputs are the projected embeddings, normalised to unit length. Sounds are
decoded to mono at 48 kHz and turned into the log-mel spectrogram the model was trained on
(the settings of its ``preprocessor_config.json``; the same numbers as transformers'
``ClapFeatureExtractor``), with one difference: everything is deterministic, so a sound
always gets the same vector, whatever else is in its batch. A clip longer than the model's
window (10 s) is centre-cropped, or, for models with feature fusion, represented by the
whole clip squeezed to the window plus three window-long crops, starting in the middle of
the first, second and last third of the possible starts (transformers picks them at
random). Shorter clips are repeated
to fill the window and never take the fusion branch (transformers marks one clip of each
batch at random, which would make a vector depend on its batch-mates).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedspace.encoders.clip import ONNX_DIR, TEXT_ONNX
from embedspace.encoders.sound import SoundEncoder
from embedspace.errors import EmbedspaceError, InvalidInput, MissingExtra, ModelNotAvailable

AUDIO_ONNX = "audio.onnx"
#: Files a CLAP folder needs besides its weights and tokenizer.
CONFIG_FILES = ("config.json", "preprocessor_config.json")
#: Frames of the short-time Fourier transform computed at once (bounds memory).
_FRAMES_AT_ONCE = 4096
_FOLDER_HINT = (
    "A CLAP folder holds config.json, the weights, the tokenizer files and "
    "preprocessor_config.json, as ClapModel.save_pretrained() and "
    "ClapProcessor.save_pretrained() write them."
)


def is_clap_directory(path: Path) -> bool:
    """True when ``path/config.json`` declares a CLAP model."""
    return _model_type(path) == "clap"


def _model_type(path: Path) -> str | None:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return str(config.get("model_type"))
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelNotAvailable(
            f"Cannot load the CLAP model in {path.parent}: {path.name} is missing or not "
            f"JSON ({error}). {_FOLDER_HINT}"
        ) from None
    if not isinstance(loaded, dict):
        raise ModelNotAvailable(f"{path} is not a JSON object. {_FOLDER_HINT}")
    return loaded


@dataclass(frozen=True)
class MelSettings:
    """How a CLAP model hears: its feature extractor's settings."""

    rate: int = 48000
    n_fft: int = 1024
    hop: int = 480
    n_mels: int = 64
    min_hz: float = 0.0
    max_hz: float = 14000.0
    window_seconds: float = 10.0
    truncation: str = "fusion"  # "fusion" (whole clip + 3 crops) or "rand_trunc" (one crop)
    padding: str = "repeatpad"  # "repeatpad", "repeat" or "pad"

    @classmethod
    def read(cls, folder: Path) -> MelSettings:
        """The settings in ``folder/preprocessor_config.json``; ``ModelNotAvailable`` when
        the file is missing or holds settings embedspace cannot follow."""
        config = _read_json(folder / "preprocessor_config.json")
        defaults = cls()
        settings = cls(
            rate=int(config.get("sampling_rate", defaults.rate)),
            n_fft=int(config.get("fft_window_size", defaults.n_fft)),
            hop=int(config.get("hop_length", defaults.hop)),
            n_mels=int(config.get("feature_size", defaults.n_mels)),
            min_hz=float(config.get("frequency_min", defaults.min_hz)),
            max_hz=float(config.get("frequency_max", defaults.max_hz)),
            window_seconds=float(config.get("max_length_s", defaults.window_seconds)),
            truncation=str(config.get("truncation", defaults.truncation)),
            padding=str(config.get("padding", defaults.padding)),
        )
        problem = settings._problem()
        if problem:
            raise ModelNotAvailable(
                f"Cannot use the CLAP model in {folder}: preprocessor_config.json {problem}."
            )
        return settings

    def _problem(self) -> str:
        if self.rate != ClapEncoder.sample_rate:
            return f"asks for {self.rate} Hz sound; embedspace runs CLAP at 48000 Hz"
        if self.truncation not in ("fusion", "rand_trunc"):
            return f"has truncation '{self.truncation}' (expected 'fusion' or 'rand_trunc')"
        if self.padding not in ("repeatpad", "repeat", "pad"):
            return f"has padding '{self.padding}' (expected 'repeatpad', 'repeat' or 'pad')"
        if min(self.n_fft, self.hop, self.n_mels) < 1 or self.window_seconds <= 0:
            return "has a non-positive size"
        return ""

    @property
    def window_samples(self) -> int:
        """Samples of the model's window (10 s at 48 kHz: 480,000)."""
        return int(self.window_seconds * self.rate)


class ClapFeatures:
    """The log-mel input of a ``ClapModel``'s audio tower, computed with numpy."""

    def __init__(self, settings: MelSettings) -> None:
        from transformers.audio_utils import mel_filter_bank, window_function

        self.settings = settings
        fusion = settings.truncation == "fusion"  # fusion models learnt on torchaudio's bank
        self.filters = mel_filter_bank(
            num_frequency_bins=settings.n_fft // 2 + 1,
            num_mel_filters=settings.n_mels,
            min_frequency=settings.min_hz,
            max_frequency=settings.max_hz,
            sampling_rate=settings.rate,
            norm=None if fusion else "slaney",
            mel_scale="htk" if fusion else "slaney",
        )
        self.window = np.asarray(window_function(settings.n_fft, "hann"), dtype=np.float64)

    def __call__(self, sound: np.ndarray) -> tuple[np.ndarray, bool]:
        """``(features, longer)`` of one mono sound at the model's rate: float32 features
        of shape ``(channels, frames, n_mels)`` (4 channels for fusion, else 1), and whether
        the sound is longer than the window (fusion models then fuse the crops)."""
        settings = self.settings
        length = settings.window_samples
        wave = np.asarray(sound, dtype=np.float32)  # float64 per block: 4 h stay 2.8 GB
        if len(wave) > length and settings.truncation == "fusion":
            mel = self.log_mel(wave)
            chunk = length // settings.hop + 1
            if chunk < len(mel):
                return _fused(mel, chunk), True
            return np.stack([mel] * 4), False
        if len(wave) > length:  # rand_trunc: the middle window
            start = (len(wave) - length) // 2
            return self.log_mel(wave[start : start + length])[None], True
        mel = self.log_mel(_filled(wave, length, settings.padding))
        channels = 4 if settings.truncation == "fusion" else 1
        return np.stack([mel] * channels), False

    def log_mel(self, wave: np.ndarray) -> np.ndarray:
        """The power mel spectrogram in dB, ``(frames, n_mels)`` float32 (as transformers
        gives it): centred frames (reflect-padded), a periodic Hann window, floored at
        -100 dB."""
        n_fft, hop = self.settings.n_fft, self.settings.hop
        padded = np.pad(wave, n_fft // 2, mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
        mel = np.empty((len(frames), self.settings.n_mels), dtype=np.float64)
        for start in range(0, len(frames), _FRAMES_AT_ONCE):
            block = frames[start : start + _FRAMES_AT_ONCE] * self.window
            spectrum = np.fft.rfft(block, axis=1).astype(np.complex64)  # as transformers does
            power = np.abs(spectrum, dtype=np.float64) ** 2
            mel[start : start + len(block)] = power @ self.filters
        return np.asarray(10.0 * np.log10(np.maximum(mel, 1e-10)), dtype=np.float32)


def _filled(wave: np.ndarray, length: int, padding: str) -> np.ndarray:
    """A short sound repeated (``repeat``, ``repeatpad``) and zero-padded to ``length``."""
    if padding == "repeat":
        wave = np.tile(wave, length // len(wave) + 1)[:length]
    elif padding == "repeatpad":
        wave = np.tile(wave, length // len(wave))
    return np.pad(wave, (0, length - len(wave)))


def _fused(mel: np.ndarray, chunk: int) -> np.ndarray:
    """The whole spectrogram squeezed to ``chunk`` frames, then a crop of ``chunk`` frames
    from the middle of each third of the possible starts: ``(4, chunk, n_mels)``."""
    starts = np.array_split(np.arange(len(mel) - chunk + 1), 3)
    picks = [int(part[len(part) // 2]) if len(part) else 0 for part in starts]
    crops = [mel[start : start + chunk] for start in picks]
    return np.stack([_squeezed(mel, chunk), *crops])


def _squeezed(mel: np.ndarray, frames: int) -> np.ndarray:
    """``mel`` linearly resampled along time to ``frames`` rows, as torch's bilinear
    ``interpolate`` (``align_corners=False``) does it."""
    source = (np.arange(frames) + 0.5) * (len(mel) / frames) - 0.5
    source = np.maximum(source, 0.0)
    lower = np.minimum(source.astype(np.int64), len(mel) - 1)
    upper = np.minimum(lower + 1, len(mel) - 1)
    weight = (source - lower)[:, None]
    return np.asarray(mel[lower] * (1 - weight) + mel[upper] * weight, dtype=np.float32)


class ClapEncoder(SoundEncoder):
    """A transformers CLAP model: ``encode`` embeds texts and sounds into one space."""

    modalities: ClassVar[frozenset[str]] = frozenset({"text", "audio"})
    sample_rate: ClassVar[int] = 48000
    metric = "cosine"
    normalized = True
    label_template = "the sound of {}"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.source = f"CLAP directory {self.path}"
        self._dim: int | None = None
        self._parts: tuple[Any, Any, ClapFeatures] | None = None
        self._sessions: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """The projection size (``projection_dim`` in the model's config)."""
        if self._dim is None:
            self._dim = int(_read_json(self.path / "config.json").get("projection_dim", 512))
        return self._dim

    def availability_error(self) -> EmbedspaceError | None:
        """``MissingExtra`` when a package the model runs on is missing, else ``None``."""
        runner = "onnxruntime" if self.onnx_folder() is not None else "torch"
        for module in ("transformers", runner):
            if importlib.util.find_spec(module) is None:
                return MissingExtra("Running CLAP models", "clip", module)
        return None

    def onnx_folder(self) -> Path | None:
        """The exported ONNX towers, when the folder has them."""
        folder = self.path / ONNX_DIR
        return (
            folder if (folder / TEXT_ONNX).is_file() and (folder / AUDIO_ONNX).is_file() else None
        )

    def decode(self, batch: list[Any]) -> list[np.ndarray]:
        """Each item as mono float32 samples at 48 kHz; ``InvalidInput`` naming an item
        that cannot be decoded or holds no samples."""
        sounds = super().decode(batch)
        for item, sound in zip(batch, sounds, strict=True):
            if not len(sound):
                raise InvalidInput(f"{_described(item)} holds no audio (zero length).")
        return sounds

    # ------------------------------------------------------------ loading
    def _load(self) -> tuple[Any, Any, ClapFeatures]:
        with self._lock:
            if self._parts is None:
                self._parts = self._read()
            return self._parts

    def _read(self) -> tuple[Any, Any, ClapFeatures]:
        try:
            transformers: Any = importlib.import_module("transformers")
        except ImportError:
            raise MissingExtra("Running CLAP models", "clip", "transformers") from None
        missing = [name for name in CONFIG_FILES if not (self.path / name).is_file()]
        if missing:
            raise ModelNotAvailable(
                f"Cannot load the CLAP model in {self.path}: {' and '.join(missing)} "
                f"missing. {_FOLDER_HINT}"
            )
        features = ClapFeatures(MelSettings.read(self.path))
        transformers.logging.set_verbosity_error()  # its notices are not our output
        transformers.utils.logging.disable_progress_bar()
        where = str(self.path)
        try:
            model = (
                None  # the ONNX towers replace it: torch never runs the model
                if self.onnx_folder() is not None
                else transformers.ClapModel.from_pretrained(where, local_files_only=True)
            )
            tokenizer = transformers.AutoTokenizer.from_pretrained(where, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelNotAvailable(
                f"Cannot load the CLAP model in {where}: {error}. {_FOLDER_HINT}"
            ) from None
        if model is not None:
            model.eval()
        return model, tokenizer, features

    def _onnx(self) -> tuple[Any, Any]:
        with self._lock:
            if self._sessions is None:
                self._sessions = _sessions(self.path / ONNX_DIR)
            return self._sessions

    def _max_tokens(self, tokenizer: Any) -> int:
        """Tokens the text tower reads: its positions (RoBERTa's start after the padding
        id), or the tokenizer's own limit if lower."""
        text = _read_json(self.path / "config.json").get("text_config", {})
        positions = int(text.get("max_position_embeddings", 514))
        limit = positions - int(text.get("pad_token_id", 1)) - 1
        own = getattr(tokenizer, "model_max_length", limit)
        return min(limit, own) if isinstance(own, int) and own > 0 else limit

    # ------------------------------------------------------------ embedding
    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts through the text tower and its projection; ``(n, dim)``, unit length."""
        model, tokenizer, _ = self._load()
        tokens = tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self._max_tokens(tokenizer),
            return_tensors="np",
        )
        ids = np.asarray(tokens["input_ids"], dtype=np.int64)
        mask = np.asarray(tokens["attention_mask"], dtype=np.int64)
        if model is None:
            feed = {"input_ids": ids, "attention_mask": mask}
            return _unit(self._onnx()[0].run(None, feed)[0])
        import torch

        with torch.inference_mode():
            output = model.get_text_features(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            )
        return _unit(_features(output).float().numpy())

    def _embed_sounds(self, sounds: list[np.ndarray]) -> np.ndarray:
        """Sounds (mono, 48 kHz) through the audio tower and its projection; ``(n, dim)``."""
        model, _, features = self._load()
        prepared = [features(sound) for sound in sounds]
        mels = np.ascontiguousarray(np.stack([mel for mel, _ in prepared]), dtype=np.float32)
        longer = np.array([flag for _, flag in prepared], dtype=bool)
        if model is None:
            session = self._onnx()[1]
            wanted = {entry.name for entry in session.get_inputs()}
            feed = {"input_features": mels, "is_longer": longer[:, None]}
            return _unit(session.run(None, {k: v for k, v in feed.items() if k in wanted})[0])
        import torch

        with torch.inference_mode():
            output = model.get_audio_features(
                input_features=torch.from_numpy(mels),
                is_longer=torch.from_numpy(longer[:, None]),
            )
        return _unit(_features(output).float().numpy())


def _sessions(folder: Path) -> tuple[Any, Any]:
    """onnxruntime sessions of the text and audio towers in ``folder``."""
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtra("Running exported CLAP models", "clip", "onnxruntime") from None
    from embedspace.config import cpu_count

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = cpu_count()
    text, audio = (
        onnxruntime.InferenceSession(
            str(folder / name), options, providers=["CPUExecutionProvider"]
        )
        for name in (TEXT_ONNX, AUDIO_ONNX)
    )
    return text, audio


def _described(item: Any) -> str:
    if isinstance(item, Path | str):
        return str(item)
    return "The upload" if isinstance(item, bytes) else "The Audio item"


def _features(output: Any) -> Any:
    """Projected features: a tensor, or ``pooler_output`` in transformers >= 5."""
    tensor = output if hasattr(output, "shape") else getattr(output, "pooler_output", None)
    if tensor is None:
        raise EmbedspaceError("The CLAP model returned no features; is it a ClapModel?")
    return tensor


def _unit(values: Any) -> np.ndarray:
    vectors = np.asarray(values, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float32)
