"""HTML pages and PDF files as text to index (io/documents.py), and as passages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import embedspace as es
from embedspace.cli import main
from embedspace.io.documents import html_text, read_document
from embedspace.io.folder_items import read_folder
from embedspace.io.records import Record, Rejection

pypdf = pytest.importorskip("pypdf", reason="the documents extra (pypdf) is not installed")


def pdf(pages: list[str]) -> bytes:
    """A small valid PDF with one line of Helvetica text per page (built by hand, so the
    test needs no PDF-writing library)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        page_number = len(objects) + 1
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
            f"{page_number + 1} 0 R /Resources << /Font << /F1 << /Type /Font /Subtype "
            "/Type1 /BaseFont /Helvetica >> >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
        kids.append(f"{page_number} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    start = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{start}\n%%EOF\n".encode()
    )
    return out.getvalue()


def test_html_keeps_visible_text_paragraphs_and_the_title() -> None:
    title, text = html_text(
        "<html><head><title>Boots  guide</title><style>p{}</style></head><body>"
        "<script>var x = 1;</script><h1>Leather boots</h1><p>Oil them &amp; dry them.</p>"
        "<p>Store cool.</p></body></html>"
    )
    assert title == "Boots guide"
    assert text == "Leather boots\n\nOil them & dry them.\n\nStore cool."


def test_pdf_pages_become_records_and_bad_pdfs_are_rejections(tmp_path: Path) -> None:
    (tmp_path / "manual.pdf").write_bytes(pdf(["Unpack the drone.", "Charge the battery."]))
    records = read_document(tmp_path / "manual.pdf", tmp_path)
    assert [r.id for r in records] == ["manual.pdf#page=1", "manual.pdf#page=2"]
    second = records[1]
    assert isinstance(second, Record) and "battery" in second.content
    assert second.metadata == {"path": "manual.pdf", "page": 2, "pages": 2}
    writer = pypdf.PdfWriter()
    writer.add_blank_page(612, 792)
    scanned = io.BytesIO()
    writer.write(scanned)
    (tmp_path / "scan.pdf").write_bytes(scanned.getvalue())
    writer.encrypt("secret")
    locked = io.BytesIO()
    writer.write(locked)
    (tmp_path / "locked.pdf").write_bytes(locked.getvalue())
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    reasons = {
        name: read_document(tmp_path / name, tmp_path)[0]
        for name in ("scan.pdf", "locked.pdf", "broken.pdf")
    }
    assert all(isinstance(r, Rejection) for r in reasons.values())
    assert "no text layer" in str(reasons["scan.pdf"])
    assert "encrypted" in str(reasons["locked.pdf"])
    assert "not a readable PDF" in str(reasons["broken.pdf"])


def test_a_folder_of_pages_and_pdfs_is_indexed_and_searched(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "care.html").write_text(
        "<title>Care</title><p>Oil leather boots every month.</p>", encoding="utf-8"
    )
    (docs / "drone.pdf").write_bytes(pdf(["Unpack the drone.", "Charge the battery fully."]))
    (docs / "empty.pdf").write_bytes(b"%PDF-1.4\nbroken")
    found = list(read_folder(docs))
    assert sum(isinstance(f, Record) for f in found) == 3
    result = CliRunner().invoke(main, ["index", "docs", str(docs), "--encoder", "fake", "--json"])
    assert result.exit_code == 0, result.output
    assert "empty.pdf" in result.output  # reported as skipped
    with es.Space.open("docs") as space:
        hit = space.search("battery", k=1, mode="keyword")[0]
        assert hit.id == "drone.pdf#page=2" and hit.metadata["page"] == 2
        assert space.search("leather", k=1, mode="keyword")[0].metadata["title"] == "Care"
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["added"] == 3 and report["rejected"] == 1


def test_an_open_head_and_svg_titles_do_not_hide_the_page(tmp_path: Path) -> None:
    title, text = html_text("<head><title>T</title><body><svg><title>icon</title></svg><p>Hi there")
    assert title == "T" and text == "Hi there"


def test_a_pdf_in_a_folder_without_pypdf_is_skipped_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedspace.errors import MissingExtra
    from embedspace.io import folder_items

    def missing(file: Path, root: Path) -> list[Record | Rejection]:
        raise MissingExtra("Reading PDF files", "documents", "pypdf")

    monkeypatch.setattr(folder_items, "read_document", missing)
    (tmp_path / "a.pdf").write_bytes(pdf(["x"]))
    (tmp_path / "b.txt").write_text("notes", encoding="utf-8")
    found = list(read_folder(tmp_path))
    assert isinstance(found[0], Rejection) and "embedspace[documents]" in str(found[0])
    assert isinstance(found[1], Record)
