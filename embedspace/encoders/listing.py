"""What can embed on this machine: the registered encoders, and the kinds of model a user
can name by path or id. ``embedspace encoders`` renders this; it prepares no model."""

from __future__ import annotations

from dataclasses import dataclass

from embedspace.encoders.registry import DEFAULT_ENCODER, entries


@dataclass(frozen=True)
class EncoderSummary:
    """One registered encoder, as ``embedspace encoders`` shows it."""

    name: str
    aliases: tuple[str, ...]
    dim: int
    modalities: tuple[str, ...]
    metric: str
    source: str
    origin: str
    installed: bool
    status: str  # why it cannot run, or which recipe runs, or "installed"
    default: bool


@dataclass(frozen=True)
class ModelKind:
    """A kind of model given to ``--encoder`` by path or id, and how to get one."""

    kind: str
    example: str
    how: str


#: For people, one row per kind in ``registry.MODEL_FORMATS`` (same ``kind`` names; a test
#: keeps the two in step).
MODEL_KINDS = (
    ModelKind(
        "CLIP folder (text + images)",
        "--encoder ./clip-vit-b32",
        "a transformers CLIPModel saved with save_pretrained(); run 'embedspace "
        "export-onnx FOLDER' once to run it on onnxruntime",
    ),
    ModelKind(
        "CLAP folder (text + audio)",
        "--encoder ./clap-htsat-unfused",
        "a transformers ClapModel and ClapProcessor saved with save_pretrained(); run "
        "'embedspace export-onnx FOLDER' once to run it on onnxruntime",
    ),
    ModelKind(
        "CLIP from the Hugging Face hub",
        "--encoder hf:openai/clip-vit-base-patch32",
        "downloads only because you asked (needs the network and embedspace[clip])",
    ),
    ModelKind(
        "Image-text alignment model",
        "--encoder ./my-align",
        "'embedspace train align pairs.csv --images DIR -o my-align' (your captioned photos)",
    ),
    ModelKind(
        "Trained text encoder",
        "--encoder ./my-faq",
        "'embedspace train text-encoder pairs.csv -o my-faq' (minilm-l6 fine-tuned on your "
        "pairs; int8/fp32 ONNX chosen per CPU)",
    ),
    ModelKind(
        "Fitted static encoder",
        "--encoder ./my-static",
        "'embedspace train static-encoder texts.csv -o my-static' (minilm-static's recipe "
        "with its map learned on your texts; no torch)",
    ),
    ModelKind(
        "Trained image encoder",
        "--encoder ./my-clothes",
        "'embedspace train image-encoder ./photos -o my-clothes' (efficientnet-lite0 + a "
        "head trained on your classes; ONNX)",
    ),
    ModelKind(
        "ONNX text model folder",
        "--encoder ./my-onnx-model",
        "model.onnx + tokenizer.json (sentence-transformers config files optional)",
    ),
    ModelKind(
        "sentence-transformers folder",
        "--encoder ./all-mpnet-base-v2",
        "a folder saved by SentenceTransformer.save() (needs embedspace[torch])",
    ),
    ModelKind(
        "Word vectors file",
        "--encoder ./vectors.bin",
        "'embedspace train word2vec' output, or word2vec .bin / .vec / GloVe .txt files",
    ),
    ModelKind(
        "Two-tower user or item tower",
        "--encoder ./movies-model#user",
        "'embedspace train two-tower' output; '#user' or '#item' picks the tower",
    ),
)


def summaries() -> list[EncoderSummary]:
    """Every registered encoder (built-ins, plugins, registered in this process)."""
    found = []
    for entry in entries():
        encoder = entry.create()
        reason = encoder.unavailable_reason()
        status = reason or encoder.recipe_note() or "installed"
        found.append(
            EncoderSummary(
                name=encoder.name,
                aliases=tuple(entry.aliases),
                dim=encoder.dim,
                modalities=tuple(sorted(encoder.modalities)),
                metric=encoder.metric,
                source=encoder.source,
                origin=entry.origin,
                installed=reason is None,
                status=status,
                default=entry.name == DEFAULT_ENCODER,
            )
        )
    return found
