"""Training encoders from files: the pairs are read (``io``), then ``train`` fits and saves
the model folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from embedspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    from embedspace.train.align import AlignReport, AlignSettings


def align_from_file(
    pairs: str | Path,
    images: str | Path,
    output: str | Path,
    *,
    image_field: str = "image",
    caption_field: str = "caption",
    image_encoder: str = "efficientnet-lite0",
    text_encoder: str = "minilm-l6",
    settings: AlignSettings | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> AlignReport:
    """Train an image–text alignment model (``train.align.train_align``) on the captioned
    images listed in the table ``pairs`` (columns ``image_field``, a path under the folder
    ``images``, and ``caption_field``); save it to ``output``."""
    from embedspace.io.labelled import read_captioned_images
    from embedspace.train.align import train_align

    paths, captions = read_captioned_images(Path(pairs), Path(images), image_field, caption_field)
    report(on_progress, f"Training an alignment model on {len(paths):,} pairs", 0, None)
    return train_align(
        paths,
        captions,
        output,
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        settings=settings,
        on_epoch=on_epoch,
    )
