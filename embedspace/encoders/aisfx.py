"""aiSFX sound-type embeddings (512-d): the offline default learned audio encoder.

Weights: the ``aisfx`` package (0.1.2; Ma & Lerch, "Representation Learning for the
Automatic Indexing of Sound Effects Libraries", ISMIR 2022; CC-BY-4.0), a CNN trained on
sound-effects libraries. It tells speech, music, tones and noise apart (it cannot tell two
songs apart: that is what ``landmarks`` is for). On first use its embedding network is
exported once to ONNX with torch into the cache folder; after that onnxruntime runs it and
torch is not imported.

The input is aisfx's own preprocessing (its librosa path, ``spectrogram_librosa.py`` and
``preprocessing.py``), written here in numpy because librosa is not a dependency
(``embedspace.encoders.mel``): mono at 44.1 kHz (soxr, as ``librosa.load``), scaled to
peak 1, a mel power spectrogram (2048-sample Hann frames every 1024 samples, 96 HTK mel
bands 0-22,050 Hz, each band of unit sum), ``log10(10,000 x + 1)``, divided by 9.4578 (the
maximum over the spectrograms of its training data, its ``'original'`` normalisation), cut
into blocks of 100 frames (2.3 s) every 50 frames (aisfx's default hop, 1.16 s). A sound
shorter than a block is padded with zeros (silence), as aisfx pads; where aisfx drops the
incomplete last block, one more block ending at the last frame is added here, so the end of
a sound counts too.

The network pools each block itself (mean over frequency, then max over time) to one 512-d
vector; aisfx stops there, with one vector per block. A sound's vector is the mean of its
blocks' vectors, L2-normalised. Blocks are made and embedded a few at a time, so memory
stays bounded however long the sound.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.mel import frame_count, mel_filterbank, power_mel_frames
from embedspace.encoders.model_cache import prepared_file
from embedspace.encoders.sound import SoundEncoder
from embedspace.encoders.threads import threads_asked
from embedspace.errors import (
    EmbedspaceError,
    InvalidInput,
    MissingExtra,
    ModelNotAvailable,
)

PACKAGE = "aisfx"
INSTALL = "pip install --no-deps aisfx==0.1.2"
SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
MEL_BANDS = 96
#: aisfx's 'original' normalisation: the largest log-mel value in its training data.
LOG_MEL_MAX = 9.457798957824707
BLOCK = 100  # frames per block the network sees (2.3 s)
BLOCK_HOP = 50  # aisfx's default embedding hop (0.5 of a block)
#: Blocks embedded at once (bounds memory: ~40 MB of activations per 16 blocks).
BLOCKS_PER_RUN = 16
DIM = 512
RECIPE = "1"  # bump when the exported graph changes


class MissingModelPackage(MissingExtra):
    """The aisfx package is not installed; it is installed on its own, without the
    dependencies it declares (librosa and others that embedspace does not use)."""

    def __init__(self, feature: str) -> None:
        EmbedspaceError.__init__(
            self,
            f"{feature} needs the package '{PACKAGE}' (its weights ship inside it), which "
            f"is not installed. Install it with: {INSTALL} (./install.sh does this).",
        )
        self.extra = "audio"


def checkpoint_file() -> Path:
    """aisfx's weights file, ``aisfx/models/checkpoint.pth`` (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise MissingModelPackage("Encoder 'aisfx'")
    weights = Path(spec.origin).parent / "models" / "checkpoint.pth"
    if not weights.is_file():
        raise ModelNotAvailable(
            f"The aisfx package at {weights.parent.parent} holds no models/checkpoint.pth; "
            f"reinstall it with: {INSTALL} --force-reinstall"
        )
    return weights


def prepared_model() -> Path:
    """The ONNX file of aisfx's embedding network, exported on first use."""
    weights = checkpoint_file()
    stat = weights.stat()
    key = "|".join([RECIPE, str(stat.st_size), str(stat.st_mtime_ns)])
    return prepared_file(
        "aisfx", key, lambda temp: _export(weights, temp), what="aisfx model", prune=True
    )


def torch_network(weights: Path) -> Any:
    """aisfx's embedding network (its ``EmbeddingNet``) with the shipped weights, in eval
    mode: ``(n, 100, 96)`` normalised log-mel blocks in, ``(n, 512)`` out."""
    try:
        import torch
    except ImportError:
        raise MissingExtra("Preparing aisfx (a one-time export)", "torch", "torch") from None
    core: Any = getattr(np, "_core", None) or getattr(np, "core")  # noqa: B009 (renamed in 2.0)

    # The network's definition, read from aisfx's models/cnn2d.py (it needs only torch);
    # importing the package itself would run its __init__, which imports its command-line
    # script and that script's dependencies (tqdm; librosa on some paths).
    source = weights.parent / "cnn2d.py"
    spec = importlib.util.spec_from_file_location("_aisfx_cnn2d", source)
    if spec is None or spec.loader is None or not source.is_file():
        raise ModelNotAvailable(f"The aisfx package holds no {source}; reinstall it: {INSTALL}")
    cnn2d = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cnn2d)
    # The checkpoint is (state dict, {dataset: (index, classes)}) with numpy integers in
    # the dict: allow exactly those globals instead of unpickling arbitrary objects.
    scalar = core.multiarray.scalar
    allowed: list[Any] = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType]
    with torch.serialization.safe_globals(allowed):
        state, _ = torch.load(weights, map_location="cpu", weights_only=True)
    prefix = "embedding_net."
    network = cnn2d.EmbeddingNet("max", 3, 1, 64)  # as aisfx's load_bestModel builds it
    network.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return network.eval()


def _export(weights: Path, target: Path) -> None:
    import torch

    network = torch_network(weights)
    sample = torch.zeros(2, BLOCK, MEL_BANDS)
    # The TorchScript exporter (the dynamo one needs onnxscript); plain convolutions, which
    # it exports exactly.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network,
            (sample,),
            str(target),
            input_names=["blocks"],
            output_names=["embeddings"],
            dynamic_axes={"blocks": {0: "batch"}, "embeddings": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def block_starts(frames: int) -> list[int]:
    """First frames of the blocks covering ``frames`` spectrogram frames: every
    ``BLOCK_HOP`` while a whole block fits, then one ending at the last frame if frames
    are left over; one (zero-padded) block for a sound shorter than a block."""
    if frames <= BLOCK:
        return [0]
    starts = list(range(0, frames - BLOCK + 1, BLOCK_HOP))
    if starts[-1] + BLOCK < frames:
        starts.append(frames - BLOCK)
    return starts


def peak_scale(samples: np.ndarray) -> float:
    """What scales ``samples`` to peak 1, as aisfx does (1 for silence)."""
    if not len(samples):
        return 1.0
    peak = max(float(samples.max()), -float(samples.min()))  # no |samples| copy
    return 1.0 / peak if peak > 0 else 1.0


def log_mel(
    samples: np.ndarray, start: int, stop: int, filters: np.ndarray, scale: float
) -> np.ndarray:
    """aisfx's input features of frames ``start .. stop - 1`` of ``samples`` (mono, 44.1
    kHz) scaled by ``scale`` (``peak_scale``): ``log10(10,000 x + 1) / 9.4578`` of the mel
    power spectrum; float32 ``(stop - start, 96)``."""
    power = power_mel_frames(samples, start, stop, n_fft=N_FFT, hop=HOP, filters=filters)
    # Scaling the power by scale**2 is scaling the samples by scale, without a copy.
    features: np.ndarray = np.log10(power * np.float32(scale * scale * 1e4) + np.float32(1.0))
    features /= np.float32(LOG_MEL_MAX)
    return features


def sound_blocks(samples: np.ndarray, filters: np.ndarray) -> Iterator[np.ndarray]:
    """The network's input blocks of one sound, float32 ``(k, 100, 96)``, up to
    ``BLOCKS_PER_RUN`` at a time; only the spectrogram those blocks span is computed."""
    frames = frame_count(len(samples), HOP)
    starts = block_starts(frames)
    scale = peak_scale(samples)
    for first_block in range(0, len(starts), BLOCKS_PER_RUN):
        chosen = starts[first_block : first_block + BLOCKS_PER_RUN]
        first, end = chosen[0], chosen[-1] + BLOCK
        span = np.zeros((end - first, MEL_BANDS), dtype=np.float32)  # zeros: padding
        computed = log_mel(samples, first, min(end, frames), filters, scale)
        span[: len(computed)] = computed
        yield np.stack([span[s - first : s - first + BLOCK] for s in chosen])


class Aisfx(SoundEncoder):
    """aiSFX sound-type embeddings: 512-d, L2-normalised, compared by cosine."""

    name = "aisfx"
    modalities: ClassVar[frozenset[str]] = frozenset({"audio"})
    sample_rate: ClassVar[int] = SAMPLE_RATE
    metric = "cosine"
    normalized = True
    source = "package aisfx 0.1.2 (CC-BY-4.0), ONNX"

    def __init__(self) -> None:
        self._sessions: dict[int, Any] = {}
        self._filters: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """512."""
        return DIM

    def availability_error(self) -> EmbedspaceError | None:
        """``MissingExtra`` when aisfx (or soundfile, soxr) is not installed,
        ``ModelNotAvailable`` when its weights file is missing."""
        try:
            checkpoint_file()
        except (MissingExtra, ModelNotAvailable) as error:
            return error
        for module, package in (("soundfile", "soundfile"), ("soxr", "soxr")):
            if importlib.util.find_spec(module) is None:
                return MissingExtra("Encoder 'aisfx'", "audio", package)
        return None

    def _embed_sounds(self, sounds: list[np.ndarray]) -> np.ndarray:
        """Mean of each sound's block embeddings, L2-normalised; ``(len(sounds), 512)``."""
        for samples in sounds:
            if len(samples) == 0:
                raise InvalidInput("A sound holds no samples (zero length); leave it out.")
        filters = self.filters()
        session = self.session()
        sums = np.zeros((len(sounds), DIM), dtype=np.float64)
        counts = np.zeros(len(sounds), dtype=np.int64)
        owners: list[int] = []
        pending: list[np.ndarray] = []

        def run() -> None:
            vectors = session.run(None, {"blocks": np.concatenate(pending)})[0]
            owner = np.asarray(owners)
            np.add.at(sums, owner, vectors)
            np.add.at(counts, owner, 1)
            owners.clear()
            pending.clear()

        for index, samples in enumerate(sounds):
            for blocks in sound_blocks(samples, filters):
                pending.append(blocks)
                owners.extend([index] * len(blocks))
                if len(owners) >= BLOCKS_PER_RUN:
                    run()
        if pending:
            run()
        means = sums / counts[:, None]
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return (means / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def filters(self) -> np.ndarray:
        """aisfx's mel filterbank, ``(96, 1025)`` (built on first use)."""
        with self._lock:
            if self._filters is None:
                self._filters = mel_filterbank(
                    SAMPLE_RATE, N_FFT, MEL_BANDS, f_min=0.0, f_max=SAMPLE_RATE / 2, htk=True
                )
            return self._filters

    def session(self) -> Any:
        """The onnxruntime session (created, and the model exported, on first use), with
        the threads asked for by ``encoder_threads`` or one per core."""
        threads = threads_asked() or cpu_count()
        with self._lock:
            if threads not in self._sessions:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = threads
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                self._sessions[threads] = onnxruntime.InferenceSession(
                    str(prepared_model()), options, providers=["CPUExecutionProvider"]
                )
            return self._sessions[threads]
