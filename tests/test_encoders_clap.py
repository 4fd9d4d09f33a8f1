"""CLAP folders end to end with tiny randomly initialised ClapModels that the test builds
(one plain, one with feature fusion): loading from a folder, the log-mel features, both
towers on torch and after the ONNX export, texts and sounds in one space, and the errors.
No download."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.encoders.clap import ClapEncoder, ClapFeatures, MelSettings
from embedspace.encoders.listing import MODEL_KINDS
from embedspace.errors import EmbedspaceError, InvalidInput, ModelNotAvailable
from embedspace.io.audio import Audio, load_audio

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
soundfile = pytest.importorskip("soundfile")
pytest.importorskip("onnxruntime")
pytest.importorskip("soxr")

RATE = 48000
WINDOW_SECONDS = 1  # the tiny models hear 1 s windows (real CLAP: 10 s)
TEXTS = ["a cat", "the dog barks loudly", "zebra", "rain on a roof"]


def _tiny_clap(folder: Path, *, fusion: bool) -> tuple[Path, object]:
    """A random ClapModel with a RoBERTa tokenizer and a feature extractor, saved."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4, "\u0120": 5}
    for prefix in ("", "\u0120"):
        for letter in "abcdefghijklmnopqrstuvwxyz":
            vocab[prefix + letter] = len(vocab)
    tokenizer = transformers.RobertaTokenizer(vocab=vocab, merges=[])
    config = transformers.ClapConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "intermediate_size": 24,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 40,
        },
        audio_config={
            "num_mel_bins": 64,
            "spec_size": 128,  # 2 x 64 mel bins: a 128 x 128 "image" of at most 256 frames
            "window_size": 8,  # 32 x 32 patches: 4 x 4 windows, then 2 x 2, then one
            "patch_size": 4,
            "patch_stride": 4,
            "patch_embeds_hidden_size": 8,
            "hidden_size": 32,  # 8 * 2 ** (stages - 1)
            "depths": [2, 2, 2],  # the second block of each stage shifts its windows
            "num_attention_heads": [2, 2, 2],
            "enable_fusion": fusion,
            "fusion_type": "aff_2d" if fusion else None,
        },
        projection_dim=12,
    )
    torch.manual_seed(0)
    model = transformers.ClapModel(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformers.ClapFeatureExtractor(
        feature_size=64,
        max_length_s=WINDOW_SECONDS,
        frequency_min=50,
        frequency_max=14000,
        truncation="fusion" if fusion else "rand_trunc",
        padding="repeatpad",
    ).save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return _tiny_clap(tmp_path_factory.mktemp("tiny-clap"), fusion=False)


@pytest.fixture(scope="module")
def tiny_fused_clap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    return _tiny_clap(tmp_path_factory.mktemp("tiny-fused-clap"), fusion=True)


@pytest.fixture(scope="module")
def exported(
    tiny_clap: tuple[Path, object],
    tiny_fused_clap: tuple[Path, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, object, str]]:
    """Both tiny models, copied and exported through ``embedspace export-onnx``."""
    from click.testing import CliRunner

    from embedspace.cli import main

    found = {}
    for label, (source, model) in (("plain", tiny_clap), ("fused", tiny_fused_clap)):
        folder = tmp_path_factory.mktemp("exported") / label
        shutil.copytree(source, folder)
        result = CliRunner().invoke(main, ["export-onnx", str(folder)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        found[label] = (folder, model, result.output)
    return found


def _sine(hertz: float, seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    time = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(time))
    return (0.5 * np.sin(2 * np.pi * hertz * time) + 0.01 * noise).astype(np.float32)


def _sounds(folder: Path) -> list[Path]:
    """Sine waves as files: short and longer than the window, other rates, stereo."""
    folder.mkdir(exist_ok=True)
    specs = [  # (name, hertz, seconds, rate, channels)
        ("a440.wav", 440, 0.4, 48000, 1),
        ("b1000.flac", 1000, 2.6, 44100, 1),
        ("c3000.wav", 3000, 1.0, 48000, 2),
        ("d200.ogg", 200, 3.3, 22050, 1),
        ("e6000.wav", 6000, 0.05, 16000, 1),
    ]
    paths = []
    for index, (name, hertz, seconds, rate, channels) in enumerate(specs):
        wave = _sine(hertz, seconds, rate, seed=index)
        data = np.stack([wave, wave * 0.5], axis=1) if channels == 2 else wave
        soundfile.write(folder / name, data, rate)
        paths.append(folder / name)
    return paths


@pytest.fixture
def middle_crops(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers crops long clips at random; make it take the crops embedspace takes."""
    monkeypatch.setattr(np.random, "choice", lambda starts: starts[len(starts) // 2])
    monkeypatch.setattr(np.random, "randint", lambda low, high: (high - 1) // 2)


def _direct_text(folder: Path, model: object, texts: list[str], limit: int = 38) -> np.ndarray:
    """transformers' tokenizer and ClapModel; ``limit``: the tiny model's 40 positions
    less RoBERTa's two (positions start after the padding id)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    with torch.no_grad():
        out = model.get_text_features(**tokens)  # type: ignore[attr-defined]
    return _unit(getattr(out, "pooler_output", out).numpy())


def _direct_audio(folder: Path, model: object, sounds: list[np.ndarray]) -> np.ndarray:
    """transformers' own feature extractor and ClapModel; each clip marked longer only if
    it is (the extractor marks one at random when none is)."""
    extractor = transformers.ClapFeatureExtractor.from_pretrained(folder)
    inputs = extractor(sounds, sampling_rate=RATE, return_tensors="pt")
    longer = torch.tensor([[len(s) > extractor.nb_max_samples] for s in sounds])
    with torch.no_grad():
        out = model.get_audio_features(  # type: ignore[attr-defined]
            input_features=inputs["input_features"].float(), is_longer=longer
        )
    return _unit(getattr(out, "pooler_output", out).numpy())


def _unit(values: np.ndarray) -> np.ndarray:
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def _assert_same_directions(found: np.ndarray, expected: np.ndarray) -> None:
    assert found.shape == expected.shape
    assert np.min(np.sum(found * expected, axis=1)) > 0.999
    np.testing.assert_allclose(found, expected, atol=1e-4)


def _assert_unit_float32(vectors: np.ndarray, count: int, dim: int = 12) -> None:
    assert vectors.shape == (count, dim) and vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("fusion", [False, True])
def test_features_match_the_transformers_feature_extractor(
    fusion: bool, tiny_clap, tiny_fused_clap, middle_crops
) -> None:
    folder = (tiny_fused_clap if fusion else tiny_clap)[0]
    extractor = transformers.ClapFeatureExtractor.from_pretrained(folder)
    features = ClapFeatures(MelSettings.read(folder))
    for seconds in (0.05, 0.4, 1.0, 1.005, 2.6, 7.3):
        sound = _sine(700, seconds)
        mine, longer = features(sound)
        theirs = extractor([sound], sampling_rate=RATE, return_tensors="np")["input_features"][0]
        assert mine.shape == theirs.shape == (4 if fusion else 1, 101, 64)
        assert mine.dtype == np.float32
        np.testing.assert_allclose(mine, theirs, atol=1e-3)  # dB; float32 rounding
        assert longer == (seconds > WINDOW_SECONDS and (not fusion or seconds > 1.01))


def test_a_clap_folder_loads_lazily_and_runs_on_torch(
    tiny_clap, tmp_path: Path, middle_crops
) -> None:
    folder, model = tiny_clap
    encoder = es.encoders.get(str(folder))
    assert isinstance(encoder, ClapEncoder)
    assert (encoder.dim, encoder.modalities, encoder.metric) == (12, {"text", "audio"}, "cosine")
    assert encoder.name == str(folder) and encoder.normalized
    assert encoder._parts is None and encoder.onnx_folder() is None  # nothing loaded yet
    texts = encoder.encode(TEXTS)
    _assert_unit_float32(texts, len(TEXTS))
    _assert_same_directions(texts, _direct_text(folder, model, TEXTS))
    paths = _sounds(tmp_path / "sounds")
    sounds = encoder.encode(paths, batch_size=2)
    _assert_unit_float32(sounds, len(paths))
    decoded = [load_audio(path, RATE) for path in paths]
    _assert_same_directions(sounds, _direct_audio(folder, model, decoded))
    assert encoder._parts is not None and encoder._parts[0] is not None  # torch ran


@pytest.mark.parametrize("label", ["plain", "fused"])
def test_exported_onnx_towers_match_torch(
    label: str, exported, tmp_path: Path, middle_crops
) -> None:
    folder, model, output = exported[label]
    assert "text.onnx and audio.onnx" in output and "onnxruntime" in output
    assert (folder / "onnx" / "text.onnx").is_file() and (folder / "onnx" / "audio.onnx").is_file()
    encoder = es.encoders.get(str(folder))
    assert isinstance(encoder, ClapEncoder) and encoder.onnx_folder() == folder / "onnx"
    texts = encoder.encode(TEXTS, batch_size=3)
    _assert_unit_float32(texts, len(TEXTS))
    _assert_same_directions(texts, _direct_text(folder, model, TEXTS))
    paths = _sounds(tmp_path / "sounds")
    decoded = [load_audio(path, RATE) for path in paths]
    expected = _direct_audio(folder, model, decoded)
    for batch_size in (1, 2, 5):  # all short, all long, mixed: the fusion branch per clip
        sounds = encoder.encode(paths, batch_size=batch_size)
        _assert_unit_float32(sounds, len(paths))
        _assert_same_directions(sounds, expected)
    clip = Audio(_sine(440, 2.5, 44100), 44100)  # sound in memory, at another rate
    expected = _direct_audio(folder, model, [load_audio(clip, RATE)])
    _assert_same_directions(encoder.encode([clip]), expected)
    assert encoder._parts is not None and encoder._parts[0] is None  # torch never ran the model


def test_texts_and_sounds_land_in_one_space(exported, tmp_path: Path, middle_crops) -> None:
    folder, model, _ = exported["fused"]
    encoder = es.encoders.get(str(folder))
    paths = _sounds(tmp_path / "sounds")
    mixed = [paths[0], "a cat", paths[3], "rain on a roof", paths[1]]
    vectors = encoder.encode(mixed, batch_size=2)
    _assert_unit_float32(vectors, len(mixed))
    np.testing.assert_allclose(vectors[[1, 3]], encoder.encode(["a cat", "rain on a roof"]))
    np.testing.assert_allclose(vectors[[0, 2, 4]], encoder.encode([paths[0], paths[3], paths[1]]))
    direct_text = _direct_text(folder, model, ["a cat", "rain on a roof"])
    direct_audio = _direct_audio(folder, model, [load_audio(p, RATE) for p in paths[:4]])
    scores = vectors[[1, 3]] @ vectors[[0, 2]].T  # text-to-sound cosine similarities
    np.testing.assert_allclose(scores, direct_text @ direct_audio[[0, 3]].T, atol=1e-4)
    alone = encoder.encode([paths[1]])  # a clip's vector does not depend on its batch-mates
    np.testing.assert_allclose(alone[0], vectors[4], atol=1e-6)
    long_text = encoder.encode(["rain " * 100])  # cut to the 38 tokens the tiny model reads
    _assert_same_directions(long_text, _direct_text(folder, model, ["rain " * 100]))
    with pytest.raises(Exception, match="index|indices|range"):  # what cutting avoids
        _direct_text(folder, model, ["rain " * 100], limit=100)


def test_a_folder_missing_files_says_what_it_needs(tiny_clap, tmp_path: Path) -> None:
    folder, _ = tiny_clap
    bare = tmp_path / "config-only"
    bare.mkdir()
    shutil.copy(folder / "config.json", bare)
    encoder = es.encoders.get(str(bare))
    assert isinstance(encoder, ClapEncoder) and encoder.dim == 12
    with pytest.raises(ModelNotAvailable, match="preprocessor_config.json missing") as caught:
        encoder.encode(["a cat"])
    assert "save_pretrained" in str(caught.value)
    no_weights = tmp_path / "no-weights"
    shutil.copytree(folder, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(EmbedspaceError, match="Cannot load the CLAP model"):
        es.encoders.get(str(no_weights)).encode(["a cat"])
    odd = tmp_path / "odd-rate"
    shutil.copytree(folder, odd)
    config = (odd / "preprocessor_config.json").read_text()
    (odd / "preprocessor_config.json").write_text(config.replace("48000", "16000"))
    with pytest.raises(ModelNotAvailable, match="16000 Hz"):
        ClapEncoder(odd).encode(["a cat"])


def test_bad_sounds_are_named(tiny_clap, tmp_path: Path) -> None:
    encoder = ClapEncoder(tiny_clap[0])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF this is not a wave file at all")
    good = _sounds(tmp_path / "sounds")[0]
    with pytest.raises(InvalidInput, match="broken.wav") as caught:
        encoder.encode([good, broken])
    assert "not a readable audio file" in str(caught.value)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), RATE)
    with pytest.raises(InvalidInput, match=r"empty\.wav holds no audio"):
        encoder.encode([empty])
    with pytest.raises(InvalidInput, match="Not found"):
        encoder.encode([tmp_path / "missing.flac"])


def test_export_refuses_other_folders_and_clap_is_listed(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from embedspace.cli import main

    result = CliRunner().invoke(main, ["export-onnx", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a transformers CLIP folder or CLAP folder" in result.stderr
    kinds = {kind.kind: kind for kind in MODEL_KINDS}
    assert "export-onnx" in kinds["CLAP folder (text + audio)"].how
