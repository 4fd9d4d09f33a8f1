"""Getting images into image models: decoding in worker threads, and the usual resizing.

Decoding a photo (JPEG, PNG) and resizing it costs about as much as running a small CNN on
it, so files are decoded by a thread pool (Pillow releases the GIL while it decodes and
resizes) one batch ahead of the model. JPEGs are decoded at a reduced scale when the model
needs far fewer pixels than the file has (Pillow's ``draft``), which is several times faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.errors import InvalidInput
from embedspace.io.images import load_image


def decode(item: str | Path | Any, min_side: int | None = None) -> Any:
    """An RGB PIL image from a path or a PIL image (converted to RGB)."""
    if isinstance(item, str | Path):
        return load_image(item, min_side=min_side)
    if hasattr(item, "convert") and hasattr(item, "size"):
        return item if item.mode == "RGB" else item.convert("RGB")
    raise InvalidInput(
        f"Cannot embed a {type(item).__name__} as an image: give a file path or a PIL image."
    )


def prefetched_batches(
    items: Sequence[Any],
    size: int,
    prepare: Callable[[Any], Any],
    min_side: int | None = None,
) -> Iterator[tuple[int, list[Any]]]:
    """Yield ``(start, prepared images)`` per batch, decoding the next batch meanwhile."""

    def work(item: Any) -> Any:
        return prepare(decode(item, min_side))

    with ThreadPoolExecutor(max_workers=max(1, cpu_count())) as pool:
        pending: list[Future[Any]] = [pool.submit(work, i) for i in items[:size]]
        for start in range(0, len(items), size):
            following = items[start + size : start + 2 * size]
            upcoming = [pool.submit(work, i) for i in following]
            yield start, [future.result() for future in pending]
            pending = upcoming


def center_crop_resize(image: Any, size: int, crop_fraction: float) -> np.ndarray:
    """The standard evaluation crop: the central ``crop_fraction`` of the shorter side,
    resized (bicubic) to ``size`` x ``size``; returns uint8 ``(size, size, 3)``."""
    from PIL import Image

    width, height = image.size
    side = max(1, round(min(width, height) * crop_fraction))
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
    resized = image.resize((size, size), Image.Resampling.BICUBIC, box=box)
    return np.asarray(resized, dtype=np.uint8)


def resize_shorter_center_crop(image: Any, size: int) -> np.ndarray:
    """CLIP's preprocessing: shorter side to ``size`` (bicubic), then the central square."""
    from PIL import Image

    width, height = image.size
    scale = size / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    resized = image.resize(new, Image.Resampling.BICUBIC)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)
