"""Documents people search, as text: HTML pages (text only) and PDFs (text per page).

- **HTML** (``.html``, ``.htm``): the visible text, read with the standard library's
  ``html.parser`` (scripts, styles and the head's other elements are left out; the
  ``<title>`` goes to the metadata), block elements kept as paragraphs so passages cut at
  them. One Record per page, id its path.
- **PDF** (``.pdf``, with the ``documents`` extra: ``pypdf``): one Record per page that has
  text, id ``PATH#page=N``, metadata ``page`` and ``pages``. An encrypted PDF, one with no
  text layer (scanned: run OCR first) or a broken file is a Rejection with its path.

Long pages are then split into passages by ``index`` like any long text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from embedspace.errors import InvalidInput, MissingExtra
from embedspace.io.readers import _decode
from embedspace.io.records import Record, Rejection

HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
DOCUMENT_SUFFIXES = HTML_SUFFIXES | PDF_SUFFIXES

_SKIPPED = {"script", "style", "noscript", "template", "svg"}
_BLOCKS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "blockquote", "pre", "dd", "dt", "hr",
}  # fmt: skip


class _Text(HTMLParser):
    """Collects visible text, a blank line at block boundaries, and the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping = 0  # inside script, style, svg, ...
        self._in_head = False  # <head> may be left open (HTML5): <body> ends it
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._in_head = True
        elif tag == "body":
            self._in_head = False
        elif tag == "title" and not self._skipping:  # not an <svg>'s <title>
            self._in_title = True
        elif tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._in_head = False
        elif tag == "title":
            self._in_title = False
        elif tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping and not self._in_head:
            self.parts.append(data)


def html_text(markup: str) -> tuple[str, str]:
    """``(title, text)`` of an HTML page: paragraphs separated by blank lines."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    paragraphs = re.split(r"\n\s*\n", "".join(parser.parts))
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.split())
    return " ".join("".join(parser.title).split()), text


def read_html_file(file: Path, root: Path) -> Record | Rejection:
    """An HTML page's visible text as one Record (id: the path relative to ``root``)."""
    try:
        markup = _decode(file)
    except (InvalidInput, OSError) as error:
        return Rejection(str(file), 0, f"cannot be read ({error})")
    title, text = html_text(markup)
    if not text:
        return Rejection(str(file), 0, "has no visible text")
    relative = file.relative_to(root).as_posix()
    metadata: dict[str, object] = {"path": relative}
    if title:
        metadata["title"] = title
    return Record(relative, text, metadata)


def read_pdf_file(file: Path, root: Path) -> list[Record | Rejection]:
    """A PDF's pages that have text, one Record each (id ``PATH#page=N``)."""
    try:
        import pypdf
    except ImportError as error:
        raise MissingExtra("Reading PDF files", "documents", "pypdf") from error
    relative = file.relative_to(root).as_posix()
    try:
        reader = pypdf.PdfReader(str(file))
        if reader.is_encrypted:
            return [Rejection(str(file), 0, "is encrypted: decrypt it first (qpdf --decrypt)")]
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as error:  # pypdf raises many kinds for damaged files
        return [Rejection(str(file), 0, f"is not a readable PDF ({type(error).__name__})")]
    records: list[Record | Rejection] = [
        Record(
            f"{relative}#page={number}",
            " ".join(text.split()),
            {"path": relative, "page": number, "pages": len(pages)},
        )
        for number, text in enumerate(pages, 1)
        if text.strip()
    ]
    if not records:
        return [Rejection(str(file), 0, "has no text layer (a scan? run OCR on it first)")]
    return records


def read_document(file: Path, root: Path) -> list[Record | Rejection]:
    """The Records of an HTML or PDF file (by suffix)."""
    if file.suffix.lower() in PDF_SUFFIXES:
        return read_pdf_file(file, root)
    return [read_html_file(file, root)]
