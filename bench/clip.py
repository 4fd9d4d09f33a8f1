"""CLIP on onnxruntime (after `embedspace export-onnx`) against the same model on torch.

No CLIP weights can be downloaded here, so the model is a randomly initialised CLIP with
the ViT-B/32 architecture (transformers' default CLIPConfig): speed does not depend on
the weights' values. Same folder, same inputs, rounds interleaved; medians.

    .venv/bin/python -m bench.clip [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.data import machine, sentences


def _tokenizer(folder: Path) -> None:
    import transformers

    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for letter in "abcdefghijklmnopqrstuvwxyz":
            vocab[letter + suffix] = len(vocab)
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = 49406, 49407
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    transformers.CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt")
    ).save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch
    import transformers
    from PIL import Image

    from embedspace.encoders.clip import ClipEncoder
    from embedspace.encoders.clip_export import export_onnx

    print(machine())
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        torch_folder, onnx_folder = Path(scratch) / "torch", Path(scratch) / "onnx-clip"
        model = transformers.CLIPModel(transformers.CLIPConfig()).eval()
        for folder in (torch_folder, onnx_folder):
            model.save_pretrained(folder)
            _tokenizer(folder)
            transformers.CLIPImageProcessor().save_pretrained(folder)
        started = time.perf_counter()
        export_onnx(onnx_folder)
        print(f"export: {time.perf_counter() - started:.1f} s (once)")
        rng = np.random.default_rng(0)
        images = [
            Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(64)
        ]
        texts = [s.lower() for s in sentences()[:256]]
        runners = {"torch": ClipEncoder(torch_folder), "onnxruntime": ClipEncoder(onnx_folder)}
        for encoder in runners.values():  # load and warm up
            encoder.encode(texts[:2])
            encoder.encode_images(images[:2])
        times: dict[tuple[str, str], list[float]] = {}
        agree = {}
        for _ in range(args.rounds):
            for name, encoder in runners.items():
                started = time.perf_counter()
                image_vectors = encoder.encode_images(images)
                times.setdefault((name, "images"), []).append(
                    len(images) / (time.perf_counter() - started)
                )
                started = time.perf_counter()
                text_vectors = encoder.encode(texts)
                times.setdefault((name, "texts"), []).append(
                    len(texts) / (time.perf_counter() - started)
                )
                agree[name] = (image_vectors, text_vectors)
        cos_images = float(np.min(np.sum(agree["torch"][0] * agree["onnxruntime"][0], axis=1)))
        cos_texts = float(np.min(np.sum(agree["torch"][1] * agree["onnxruntime"][1], axis=1)))
        print(
            f"\nViT-B/32-sized CLIP, {len(images)} images (640x480), {len(texts)} sentences; min cosine torch vs onnx: images {cos_images:.6f}, texts {cos_texts:.6f}\n"
        )
        print("| input | torch per s | onnxruntime per s | ratio |")
        print("|---|---|---|---|")
        for kind in ("images", "texts"):
            t, o = (
                statistics.median(times[("torch", kind)]),
                statistics.median(times[("onnxruntime", kind)]),
            )
            print(f"| {kind} | {t:.1f} | {o:.1f} | {o / t:.2f}x |")


if __name__ == "__main__":
    main()
