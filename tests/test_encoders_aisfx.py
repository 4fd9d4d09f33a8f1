"""The aisfx sound-type encoder: its numpy preprocessing (checked against the mel formulas
and against aisfx's own framing, normalisation and torch model), its vectors, and a real
few-shot classification of synthetic tones, noise and music."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import has, require

from embedspace.encoders import aisfx, get, mel
from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.audio import Audio

pytestmark = pytest.mark.skipif(
    not (has("aisfx") and has("soundfile") and has("soxr") and has("onnxruntime")),
    reason="needs aisfx (./install.sh) and embedspace[audio]",
)

RATE = 22050  # the test sounds' own rate (the encoder resamples to 44.1 kHz)


# ------------------------------------------------------------------ synthetic sounds
def tone(seconds: float, frequency: float = 440.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def noise(rng: np.random.Generator, seconds: float, pink: bool = False) -> np.ndarray:
    count = int(seconds * RATE)
    white = rng.standard_normal(count)
    if not pink:
        return (0.2 * white).astype(np.float32)
    frequencies = np.fft.rfftfreq(count, 1 / RATE)
    frequencies[0] = frequencies[1]
    shaped = np.fft.irfft(np.fft.rfft(white) / np.sqrt(frequencies), count)  # 1/f power
    return (0.5 * shaped / np.abs(shaped).max()).astype(np.float32)


def music(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Chords (major, minor, sevenths) with six harmonics, plucked, changing every ~0.6 s."""
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    shapes = ([0, 4, 7], [0, 3, 7], [0, 4, 7, 11], [0, 3, 7, 10])
    start, length = 0.0, rng.uniform(0.4, 0.8)
    while start < seconds:
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        inside = (t >= start) & (t < start + length)
        since = t[inside] - start
        envelope = np.exp(-3 * since) * (1 - np.exp(-200 * since))
        for interval in shapes[rng.integers(0, len(shapes))]:
            f0 = root * 2 ** (interval / 12)
            for k in range(1, 7):
                out[inside] += envelope * np.sin(2 * np.pi * f0 * k * since) / k**1.2
        start += length
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def write(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    import soundfile

    subtype = "PCM_24" if path.suffix == ".flac" else "FLOAT"
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return path


@pytest.fixture(scope="module")
def encoder() -> aisfx.Aisfx:
    """One encoder for the module: its session is made (and the model exported into the
    run's shared cache) on first use."""
    return aisfx.Aisfx()


# ------------------------------------------------------------------ the mel filterbank
def test_mel_scales_follow_their_formulas() -> None:
    assert mel.hz_to_mel(700.0, htk=True) == pytest.approx(2595 * np.log10(2))
    assert mel.hz_to_mel(1000.0, htk=False) == pytest.approx(15.0)  # Slaney: 3 per 200 Hz
    assert mel.hz_to_mel(500.0, htk=False) == pytest.approx(7.5)
    assert mel.hz_to_mel(6400.0, htk=False) == pytest.approx(15.0 + 27.0)  # log, 27 per 6.4x
    frequencies = np.array([0.0, 20.0, 440.0, 999.0, 1000.0, 5000.0, 22050.0])
    for htk in (True, False):
        back = mel.mel_to_hz(mel.hz_to_mel(frequencies, htk=htk), htk=htk)
        np.testing.assert_allclose(back, frequencies, rtol=1e-12, atol=1e-9)


def _triangles(rate: int, n_fft: int, bands: int, htk: bool) -> tuple[np.ndarray, np.ndarray]:
    """The filters written out one weight at a time, peaks at 1, and their mel edges."""
    edges = mel.mel_to_hz(
        np.linspace(mel.hz_to_mel(0.0, htk=htk), mel.hz_to_mel(rate / 2, htk=htk), bands + 2),
        htk=htk,
    )
    bins = np.arange(n_fft // 2 + 1) * rate / n_fft
    weights = np.zeros((bands, len(bins)))
    for i in range(bands):
        low, centre, high = edges[i : i + 3]
        for k, f in enumerate(bins):
            if low < f <= centre:
                weights[i, k] = (f - low) / (centre - low)
            elif centre < f < high:
                weights[i, k] = (high - f) / (high - centre)
    return weights, edges


def test_aisfx_filterbank_is_htk_triangles_of_unit_sum(encoder: aisfx.Aisfx) -> None:
    filters = encoder.filters()
    assert filters.shape == (96, 1025) and filters.dtype == np.float32
    expected, edges = _triangles(44100, 2048, 96, htk=True)
    assert (expected.sum(axis=1) > 0).all()  # no empty band at this resolution
    np.testing.assert_allclose(filters, expected / expected.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(filters.sum(axis=1), 1.0, rtol=1e-5)
    centres = mel.hz_to_mel(edges[1:-1], htk=True)
    np.testing.assert_allclose(np.diff(centres), np.diff(centres)[0], rtol=1e-9)  # even in mel


def test_slaney_filters_have_unit_area() -> None:
    filters = mel.mel_filterbank(16000, 512, 40, htk=False, norm="slaney").astype(np.float64)
    expected, edges = _triangles(16000, 512, 40, htk=False)
    np.testing.assert_allclose(
        filters, expected * (2 / (edges[2:] - edges[:-2]))[:, None], atol=1e-7
    )


# ------------------------------------------------------------------ the spectrogram
def test_frames_are_centred_windows_with_zeros_beyond_the_ends() -> None:
    rng = np.random.default_rng(3)
    samples = rng.standard_normal(10_000).astype(np.float32)
    filters = np.eye(1025, dtype=np.float32)  # identity "filters": the power spectrum itself
    frames = mel.frame_count(len(samples), 1024)
    assert frames == 1 + 10_000 // 1024
    power = mel.power_mel_frames(samples, 0, frames, n_fft=2048, hop=1024, filters=filters)
    padded = np.concatenate([np.zeros(1024), samples, np.zeros(2048)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)  # periodic Hann
    for t in (0, 3, frames - 1):
        expected = np.abs(np.fft.rfft(padded[t * 1024 : t * 1024 + 2048] * window)) ** 2
        np.testing.assert_allclose(power[t], expected, rtol=1e-4, atol=1e-2)


def test_a_spectrogram_in_pieces_equals_one_in_one_go(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = noise(np.random.default_rng(4), 3.0)
    filters = mel.mel_filterbank(RATE, 2048, 96)
    whole = mel.power_mel_frames(samples, 0, 65, n_fft=2048, hop=1024, filters=filters)
    monkeypatch.setattr(mel, "FRAMES_PER_CHUNK", 7)
    pieces = [
        mel.power_mel_frames(samples, a, b, n_fft=2048, hop=1024, filters=filters)
        for a, b in ((0, 30), (30, 65))
    ]
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=1e-6)


def test_a_tone_lands_in_the_band_around_its_frequency(encoder: aisfx.Aisfx) -> None:
    features = aisfx.log_mel(tone(1.0, 1000.0, 44100), 0, 40, encoder.filters(), 2.0)
    assert features.shape == (40, 96) and features.dtype == np.float32
    strongest = int(np.argmax(features[20]))
    centre = mel.mel_to_hz(
        np.linspace(0, mel.hz_to_mel(22050.0, htk=True), 98)[strongest + 1], htk=True
    )
    assert abs(centre - 1000.0) < 60.0
    assert features.min() >= 0.0 and features.max() <= 1.0  # aisfx's min-max range


def test_blocks_cover_every_frame() -> None:
    assert aisfx.block_starts(9) == [0]  # 0.2 s: one block, padded
    assert aisfx.block_starts(100) == [0]
    assert aisfx.block_starts(150) == [0, 50]
    assert aisfx.block_starts(143) == [0, 43]  # aisfx drops frames 100..142; one block more
    starts = aisfx.block_starts(2585)  # 60 s
    assert starts[-1] + 100 == 2585 and all(
        b - a <= 50 for a, b in zip(starts, starts[1:], strict=False)
    )


# ------------------------------------------------------------------ the model
def test_vectors_equal_aisfx_own_pipeline(encoder: aisfx.Aisfx) -> None:
    """aisfx's own normalisation, blocking and torch model (its CrossNet, as its
    load_bestModel builds it), fed with the power spectrogram computed here, give the
    encoder's vector: the numpy port and the ONNX export change nothing."""
    require(has("torch"), "torch")
    import torch
    from aisfx import inference, preprocessing

    rng = np.random.default_rng(5)
    samples = aisfx_rate(music(rng, 3.6) + 0.2 * noise(rng, 3.6))
    samples = samples[: 149 * 1024]  # 150 frames: aisfx's blocks start at frames 0 and 50
    power = mel.power_mel_frames(
        samples / np.abs(samples).max(), 0, 150, n_fft=2048, hop=1024, filters=encoder.filters()
    )
    spectrogram = preprocessing.spectrogram_normalize(np.log10(power * 10000.0 + 1))
    # The package's own weights file; aisfx's load_weights predates torch's weights_only.
    weights, datasets = torch.load(aisfx.checkpoint_file(), map_location="cpu", weights_only=False)
    model = inference.load_bestModel(weights, datasets, "cpu")
    blocks = inference.model_get_embedding(spectrogram, 0.5, True, model, "cpu").numpy()
    assert blocks.shape == (2, 512)
    expected = blocks.mean(axis=0) / np.linalg.norm(blocks.mean(axis=0))
    vector = encoder.encode([Audio(samples, 44100)])[0]
    np.testing.assert_allclose(vector, expected, atol=2e-6)


def aisfx_rate(samples: np.ndarray) -> np.ndarray:
    """Test sounds made at RATE, as the encoder sees them (44.1 kHz)."""
    from embedspace.io.audio import load_audio

    return load_audio(Audio(samples, RATE), 44100)


def test_vectors_are_unit_float32_and_deterministic(encoder: aisfx.Aisfx, tmp_path: Path) -> None:
    assert (encoder.name, encoder.dim, encoder.metric) == ("aisfx", 512, "cosine")
    assert encoder.modalities == {"audio"} and encoder.sample_rate == 44100
    rng = np.random.default_rng(6)
    files = [write(tmp_path / "tone.wav", tone(1.5)), write(tmp_path / "hiss.flac", noise(rng, 2))]
    vectors = encoder.encode(files)
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    assert vectors.flags.c_contiguous and np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(encoder.encode(files), vectors)
    np.testing.assert_array_equal(aisfx.Aisfx().encode(files[::-1]), vectors[::-1])


def test_a_file_and_its_samples_give_the_same_vector(encoder: aisfx.Aisfx, tmp_path: Path) -> None:
    samples = music(np.random.default_rng(7), 2.5)
    from_file, from_samples = encoder.encode(
        [write(tmp_path / "chords.wav", samples), Audio(samples, RATE)]
    )
    np.testing.assert_allclose(from_file, from_samples, atol=1e-5)


def test_short_and_long_sounds(encoder: aisfx.Aisfx, tmp_path: Path) -> None:
    """A 0.2 s sound is padded to one block; a 60 s one is embedded block by block."""
    rng = np.random.default_rng(8)
    short, long_, reference, hiss = encoder.encode(
        [
            write(tmp_path / "blip.wav", tone(0.2)),
            write(tmp_path / "long.flac", tone(60.0)),
            Audio(tone(8.0), RATE),
            Audio(noise(rng, 8.0), RATE),
        ]
    )
    for vector in (short, long_):
        assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)
    assert long_ @ reference > 0.95  # the same tone, 60 s or 8 s
    assert long_ @ reference > long_ @ hiss + 0.1


def test_long_sounds_are_embedded_a_few_blocks_at_a_time(
    encoder: aisfx.Aisfx, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = music(np.random.default_rng(9), 6.0)
    at_once = encoder.encode([Audio(samples, RATE)])
    monkeypatch.setattr(aisfx, "BLOCKS_PER_RUN", 2)
    monkeypatch.setattr(mel, "FRAMES_PER_CHUNK", 33)
    np.testing.assert_allclose(encoder.encode([Audio(samples, RATE)]), at_once, atol=1e-6)


def test_an_empty_sound_is_refused(encoder: aisfx.Aisfx) -> None:
    with pytest.raises(InvalidInput, match="no samples"):
        encoder.encode([Audio(np.zeros(0, dtype=np.float32), RATE)])


# ------------------------------------------------------------------ classification
def test_few_shot_classification_separates_tones_noise_and_music(tmp_path: Path) -> None:
    """Four labelled examples per kind train the existing few-shot classifier on aisfx
    vectors; it labels 18 new sounds (other frequencies, chords and noise colours)."""
    require(has("sklearn"), "scikit-learn")
    from embedspace.ops.classify import few_shot
    from embedspace.store.space import Space

    rng = np.random.default_rng(10)
    makers = {
        "tone": lambda seconds: tone(seconds, rng.uniform(150, 3000)),
        "noise": lambda seconds: noise(rng, seconds, pink=bool(rng.integers(0, 2))),
        "music": lambda seconds: music(rng, seconds),
    }

    def sounds(count: int, folder: str) -> tuple[list[Path], list[str]]:
        (tmp_path / folder).mkdir()
        files, labels = [], []
        for label, make in makers.items():
            for i in range(count):
                samples = make(rng.uniform(1.2, 2.2)) * rng.uniform(0.3, 1.0)
                files.append(write(tmp_path / folder / f"{label}-{i}.wav", samples))
                labels.append(label)
        return files, labels

    train, train_labels = sounds(4, "train")
    held_out, truth = sounds(6, "held-out")
    with Space.create(tmp_path / "sounds", encoder="aisfx") as space:
        vectors = space.encoder.encode(held_out)
        space.add([str(f) for f in held_out], ids=[f.name for f in held_out], vectors=vectors)
        predicted = {c.id: c.label for c in few_shot(space, train, train_labels)}
    accuracy = np.mean(
        [predicted[f.name] == label for f, label in zip(held_out, truth, strict=True)]
    )
    assert accuracy >= 0.8


# ------------------------------------------------------------------ availability
def test_registered_under_its_alias() -> None:
    assert isinstance(get("sound-types"), aisfx.Aisfx)


def test_constructing_touches_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> Path:
        raise AssertionError("the model was prepared")

    monkeypatch.setattr(aisfx, "prepared_model", refuse)
    encoder = aisfx.Aisfx()
    assert encoder.dim == 512 and encoder.availability_error() is None


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "aisfx" else real(name, *a)
    )
    encoder = aisfx.Aisfx()
    error = encoder.availability_error()
    assert isinstance(error, MissingExtra) and isinstance(error, ImportError)
    assert "pip install --no-deps aisfx==0.1.2" in str(error)
    assert encoder.unavailable_reason() == str(error)
    with pytest.raises(MissingExtra, match="aisfx==0.1.2"):
        encoder.encode([Audio(tone(0.5), RATE)])


def test_the_command_line_indexes_sounds_and_classifies_them_few_shot(tmp_path: Path) -> None:
    """`index --encoder aisfx` on a folder of sounds, then `classify --train` with a table
    naming example files, then `search --audio` for what sounds like a new tone."""
    require(has("sklearn"), "scikit-learn")
    import json

    from conftest import run

    rng = np.random.default_rng(4)
    library, examples = tmp_path / "library", tmp_path / "examples"
    library.mkdir()
    examples.mkdir()
    rows = ["file,kind"]
    for i in range(5):
        write(library / f"tone-{i}.wav", tone(1.5, rng.uniform(200, 2500)))
        write(library / f"noise-{i}.wav", noise(rng, 1.5, pink=bool(i % 2)))
        for kind, samples in (
            ("tone", tone(1.5, rng.uniform(200, 2500))),
            ("noise", noise(rng, 1.5)),
        ):
            write(examples / f"{kind}-{i}.wav", samples)
            rows.append(f"examples/{kind}-{i}.wav,{kind}")
    (tmp_path / "examples.csv").write_text("\n".join(rows) + "\n")
    space = str(tmp_path / "sounds")
    indexed = run("index", space, str(library), "--encoder", "aisfx", "--json")
    assert json.loads(indexed.output)["added"] == 10
    labelled = run(
        "classify", space, "--train", str(tmp_path / "examples.csv"),
        "--text-field", "file", "--label-field", "kind", "--json",
    )  # fmt: skip
    assert labelled.exit_code == 0, labelled.output
    found = {row["id"]: row["label"] for row in map(json.loads, labelled.output.splitlines())}
    assert (
        sum(found[f"{kind}-{i}.wav"] == kind for kind in ("tone", "noise") for i in range(5)) >= 9
    )
    query = write(tmp_path / "query.wav", tone(2.0, 700.0))
    alike = run("search", space, "--audio", str(query), "-k", "5", "--json")
    assert [json.loads(line)["id"].split("-")[0] for line in alike.output.splitlines()] == [
        "tone"
    ] * 5
