"""What a search is asked with: a text, an image or a sound, exactly one of them."""

from __future__ import annotations

from embedspace.errors import InvalidInput


def check_one_query(
    text: str | None, image: str | None, sound: str | None, text_options: bool
) -> None:
    """Raise ``InvalidInput`` unless exactly one of ``text``, ``image`` and ``sound`` is
    given, and options that read a text (``text_options``: a keyword mode, a reranker) come
    with a text."""
    if sum(given is not None for given in (text, image, sound)) != 1:
        raise InvalidInput("Give a QUERY text, --image FILE or --audio FILE (one of them).")
    if text_options and text is None:
        raise InvalidInput(
            "--mode and --rerank read a QUERY text; they cannot use --image or --audio."
        )
