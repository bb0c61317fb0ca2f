"""Real documents made by the tests: OpenDocument files written as their XML, spreadsheets,
legacy formats through LibreOffice itself, and scanned PDFs (text rendered to images)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
      'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
      'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3"')
MIME = {"odt": "application/vnd.oasis.opendocument.text",
        "ods": "application/vnd.oasis.opendocument.spreadsheet",
        "odp": "application/vnd.oasis.opendocument.presentation"}


def need_tool(tool: str, package: str) -> str:
    """The tool's path; without it the test is skipped here and fails in CI (CI=true)."""
    found = shutil.which(tool)
    if found:
        return found
    reason = f"{tool} absent (paquet Debian {package} ; scripts/setup l'installe avec apt-get)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"outil système indisponible en CI : {reason}")
    pytest.skip(reason)


def _odf(path: Path, kind: str, body: str, title: str = "", date: str = "", encrypted: bool = False,
         creator: str = "") -> Path:
    content = f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NS}><office:body>{body}</office:body></office:document-content>'
    meta = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {NS}><office:meta>'
            + (f"<dc:title>{escape(title)}</dc:title>" if title else "")
            + (f"<meta:creation-date>{date}</meta:creation-date>" if date else "")
            + (f"<meta:initial-creator>{escape(creator)}</meta:initial-creator>" if creator else "")
            + "</office:meta></office:document-meta>")
    enc = ('<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x">'
           '<manifest:algorithm manifest:algorithm-name="Blowfish CFB" manifest:initialisation-vector="x"/>'
           '</manifest:encryption-data>') if encrypted else ""
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
                f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{MIME[kind]}"/>'
                f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{enc}</manifest:file-entry>'
                '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), MIME[kind])  # stored, first: the ODF rule
        zf.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        zf.writestr("content.xml", os.urandom(512) if encrypted else content, zipfile.ZIP_DEFLATED)
        zf.writestr("meta.xml", meta, zipfile.ZIP_DEFLATED)
    return path


def make_odt(path: Path, heading: str, paragraphs: list[str], table: list[list[str]] | None = None,
             title: str = "", date: str = "", encrypted: bool = False, creator: str = "") -> Path:
    body = f'<text:h text:outline-level="1">{escape(heading)}</text:h>'
    body += "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    if table:
        width = len(table[0])
        body += f'<table:table table:name="Tableau1"><table:table-column table:number-columns-repeated="{width}"/>'
        for row in table:
            body += "<table:table-row>" + "".join(
                f'<table:table-cell office:value-type="string"><text:p>{escape(c)}</text:p></table:table-cell>'
                for c in row) + "</table:table-row>"
        body += "</table:table>"
    return _odf(path, "odt", f"<office:text>{body}</office:text>", title, date, encrypted, creator)


def make_ods(path: Path, sheets: dict[str, list[list[str]]], encrypted: bool = False) -> Path:
    body = ""
    for name, rows in sheets.items():
        body += f'<table:table table:name="{escape(name)}">'
        for row in rows:
            body += "<table:table-row>" + "".join(
                f'<table:table-cell office:value-type="string"><text:p>{escape(c)}</text:p></table:table-cell>'
                for c in row) + '<table:table-cell table:number-columns-repeated="16380"/></table:table-row>'
        # What LibreOffice writes for the empty rest of a sheet: one row repeated a million times.
        body += '<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
        body += "</table:table>"
    return _odf(path, "ods", f"<office:spreadsheet>{body}</office:spreadsheet>", encrypted=encrypted)


def make_odp(path: Path, slides: list[list[str]]) -> Path:
    body = ""
    for i, paras in enumerate(slides, 1):
        body += f'<draw:page draw:name="page{i}"><draw:frame><draw:text-box>'
        body += "".join(f"<text:p>{escape(p)}</text:p>" for p in paras)
        body += "</draw:text-box></draw:frame></draw:page>"
    return _odf(path, "odp", f"<office:presentation>{body}</office:presentation>")


def make_xlsx(path: Path, sheets: dict[str, list[list]], title: str = "") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    if title:
        book.properties.title = title
    book.save(path)
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str], title: str = "", author: str = "",
              created: "datetime | None" = None, company: str = "") -> Path:
    """A DOCX by python-docx; its core properties are python-docx's own unless given."""
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    props = document.core_properties
    if title:
        props.title = title
    if author:
        props.author = author
    if created:
        props.created = created
    document.save(str(path))
    if company:  # docProps/app.xml's <Company>, which python-docx does not write
        with zipfile.ZipFile(path) as zf:
            parts = {i.filename: zf.read(i) for i in zf.infolist()}
        app = parts["docProps/app.xml"].replace(b"<Company/>", b"")
        parts["docProps/app.xml"] = app.replace(b"</Properties>", f"<Company>{escape(company)}</Company></Properties>".encode())
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in parts.items():
                zf.writestr(name, data)
    return path


def make_pdf(path: Path, pages: list[str], title: str = "", author: str = "",
             created: "datetime | None" = None, heading: str = "") -> Path:
    """A PDF with a text layer (fpdf2), its info dictionary filled with what is given."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    if created:
        pdf.set_creation_date(created)
    for i, text in enumerate(pages):
        pdf.add_page()
        if heading and i == 0:
            pdf.set_font("Helvetica", "B", size=18)
            pdf.multi_cell(0, 10, latin1(heading))
            pdf.ln(4)
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, latin1(text))
    pdf.output(str(path))
    return path


def make_doc(path: Path, heading: str, paragraphs: list[str]) -> Path:
    """A legacy Word .doc written by LibreOffice itself from a DOCX."""
    soffice = need_tool("soffice", "libreoffice-writer-nogui")
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as profile:
        src = make_docx(Path(work) / (path.stem + ".docx"), heading, paragraphs)
        subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "doc",
                        "--outdir", work, str(src)], check=True, capture_output=True, timeout=180)
        shutil.move(str(Path(work) / (path.stem + ".doc")), path)
    return path


def make_rtf(path: Path, heading: str, paragraphs: list[str]) -> Path:
    def rtf(text: str) -> str:
        return "".join(c if ord(c) < 128 else f"\\u{ord(c)}?" for c in text)

    body = "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\n{\\b\\fs32 " + rtf(heading) + "}\\par\n"
    body += "".join(rtf(p) + "\\par\n" for p in paragraphs) + "}"
    path.write_text(body, encoding="ascii")
    return path


_LATIN1 = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "œ": "oe", "Œ": "OE", "€": "EUR", "–": "-",
                        "—": "-", "…": "...", "\u202f": " ", "\u2009": " ", "\u2011": "-"})


def latin1(text: str) -> str:
    """What the PDF core fonts can typeset: French accents stay, typographic extras are simplified."""
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def make_scanned_pdf(path: Path, pages: list[str], dpi: int = 150, text_pages: tuple[int, ...] = ()) -> Path:
    """A PDF of page images (a scan): each page's text is typeset, rendered, then kept only
    as a picture. Pages listed in text_pages (1-based) keep a real text layer instead."""
    import pypdfium2 as pdfium
    from fpdf import FPDF

    def typeset(texts: list[str]) -> bytes:
        pdf = FPDF(format="A4")
        pdf.set_margins(20, 20)
        for text in texts:
            pdf.add_page()
            pdf.set_font("Helvetica", size=12)
            pdf.multi_cell(0, 7, latin1(text))
        return bytes(pdf.output())

    rendered = pdfium.PdfDocument(typeset(pages))
    images = []
    for i in range(len(rendered)):
        images.append(rendered[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L"))
    rendered.close()
    scan = io.BytesIO()
    images[0].save(scan, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    if not text_pages:
        path.write_bytes(scan.getvalue())
        return path
    # Mixed: replace the chosen pages of the scan with their typeset (text-layer) version.
    out = pdfium.PdfDocument(scan.getvalue())
    text_pdf = pdfium.PdfDocument(typeset(pages))
    for number in sorted(text_pages):
        out.del_page(number - 1)
        out.import_pages(text_pdf, [number - 1], index=number - 1)
    out.save(str(path))
    out.close()
    text_pdf.close()
    return path
