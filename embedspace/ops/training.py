"""Training encoders from files: the pairs are read (``io``), then ``train`` fits and saves
the model folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embedspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    from embedspace.train.align import AlignReport, AlignSettings
    from embedspace.train.fitting import EpochCallback
    from embedspace.train.image_encoder import ImageEncoderReport, ImageEncoderSettings
    from embedspace.train.static_fit import StaticFitReport
    from embedspace.train.text_encoder import TextEncoderReport, TextEncoderSettings


def static_encoder_from_files(
    sources: Sequence[str | Path],
    output: str | Path,
    *,
    text_fields: Sequence[str] = (),
    dims: int = 256,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> StaticFitReport:
    """Fit a static encoder (``train.static_fit``) to the texts of the files ``sources``
    (plain text, one text per line, or tables read as ``index`` reads them, the text from
    ``text_fields``); save it to ``output``. Rows without text are skipped."""
    from embedspace.errors import InvalidInput
    from embedspace.io.readers import read_records
    from embedspace.io.records import Record
    from embedspace.train.static_fit import fit_static_encoder

    if not sources:
        raise InvalidInput("Name at least one file of texts to fit the static encoder to.")
    texts = [
        found.content
        for source in sources
        for found in read_records(source, text_fields=text_fields)
        if isinstance(found, Record)
    ]
    report(on_progress, f"Fitting a static encoder to {len(texts):,} texts", 0, None)
    return fit_static_encoder(texts, output, dims=dims, seed=seed, on_progress=on_progress)


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


def text_encoder_from_file(
    pairs: str | Path,
    output: str | Path,
    *,
    base: str = "minilm-l6",
    settings: TextEncoderSettings | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> TextEncoderReport:
    """Fine-tune a text encoder (``train.text_encoder``) on the table ``pairs``: query and
    positive (optionally negative) columns, or sentence and label columns; save it to
    ``output``."""
    from embedspace.io.training_data import read_text_examples
    from embedspace.train.text_encoder import (
        TextEncoderSettings,
        pairs_from_examples,
        pairs_from_labels,
        train_text_encoder,
    )

    settings = settings or TextEncoderSettings()
    examples = read_text_examples(pairs)
    if examples.labels is not None:
        made = pairs_from_labels(examples.anchors, examples.labels, settings.seed)
    else:
        assert examples.positives is not None
        made = pairs_from_examples(examples.anchors, examples.positives, examples.negatives)
    report(on_progress, f"Fine-tuning {base} on {len(made.anchors):,} pairs", 0, None)
    return train_text_encoder(
        made, output, base=base, settings=settings, on_epoch=on_epoch, on_progress=on_progress
    )


def image_encoder_from_folder(
    source: str | Path,
    output: str | Path,
    *,
    settings: ImageEncoderSettings | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImageEncoderReport:
    """Train an image encoder (``train.image_encoder``) on the images of ``source``: a
    folder with one sub-folder per class, or a table of image,label (or image,same) rows;
    save it to ``output``."""
    from embedspace.io.training_data import read_labelled_images
    from embedspace.train.image_encoder import train_image_encoder

    images, labels = read_labelled_images(source)
    report(
        on_progress,
        f"Training an image encoder on {len(images):,} images, {len(set(labels)):,} labels",
        0,
        None,
    )
    return train_image_encoder(
        images, labels, output, settings=settings, on_epoch=on_epoch, on_progress=on_progress
    )
