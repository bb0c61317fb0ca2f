"""Loading every supported format offline, with files the tests produce themselves."""

from pathlib import Path

import pytest

from assistant.corpus import document_info
from assistant.errors import DocumentError
from assistant.load import load_document

PARAGRAPH = "Le revenu de solidarité active (RSA) est versé par le Département aux personnes sans ressources."


def _load(path: Path):
    return load_document(document_info(path, path.parent, {}))


def _all_text(doc) -> str:
    return " ".join(doc.block_text(b) for b in doc.blocks)


def test_txt_blocks_point_at_the_file(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("Titre de la note\n\n" + PARAGRAPH + "\n\nDeuxième paragraphe sur l'ASE.\n", encoding="utf-8")
    doc = _load(path)
    assert doc.text_is_source and doc.text == path.read_text(encoding="utf-8")
    assert any(doc.block_text(b) == PARAGRAPH for b in doc.blocks)


def test_latin1_text_is_decoded(tmp_path):
    path = tmp_path / "ancien.txt"
    path.write_bytes(("Protection de l'enfance : un rôle clé du Département, créé en 1983. " * 3).encode("latin-1"))
    doc = _load(path)
    assert "rôle clé" in _all_text(doc)


def test_markdown(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("# Guide RSA\n\n## Orientation\n\n" + PARAGRAPH + "\n\n- premier point\n- second point\n", encoding="utf-8")
    doc = _load(path)
    kinds = [b.kind for b in doc.blocks]
    assert "title" in kinds and "list" in kinds
    assert PARAGRAPH in _all_text(doc)


def test_html_with_script_is_text_only(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>t</title><script>alert('x')</script></head><body>"
        f"<h1>Aide sociale</h1><p>{PARAGRAPH}</p></body></html>", encoding="utf-8")
    doc = _load(path)
    assert PARAGRAPH in doc.text
    assert "alert(" not in doc.text


def test_text_pdf_yields_elements_with_pages(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    for page_text in ("Première page : le Département finance le RSA.", "Seconde page : la PMI suit les enfants."):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 10, page_text)
    path = tmp_path / "rapport.pdf"
    pdf.output(str(path))
    doc = _load(path)
    assert doc.blocks, "a text PDF must not silently give zero elements"
    assert "finance le RSA" in doc.text
    assert {b.page for b in doc.blocks} == {1, 2}


def test_pdf_without_text_layer_asks_for_ocr(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    with pytest.raises(DocumentError, match="OCR"):
        _load(path)


def test_corrupt_pdf_is_a_clear_error(tmp_path):
    path = tmp_path / "casse.pdf"
    path.write_bytes(b"%PDF-1.4\n garbage garbage \x00\x01\x02")
    with pytest.raises(DocumentError) as err:
        _load(path)
    assert "casse.pdf" in str(err.value)


def test_docx_with_table(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Plan départemental", level=1)
    document.add_paragraph(PARAGRAPH)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Dispositif", "Montant"
    table.cell(1, 0).text, table.cell(1, 1).text = "Fonds d'appui", "135 millions d'euros"
    path = tmp_path / "plan.docx"
    document.save(str(path))
    doc = _load(path)
    assert PARAGRAPH in doc.text
    assert "135 millions" in doc.text
    assert "table" in [b.kind for b in doc.blocks]


def test_empty_and_unsupported_files(tmp_path):
    empty = tmp_path / "vide.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(DocumentError, match="vide"):
        _load(empty)
    odd = tmp_path / "schema.dwg"
    odd.write_bytes(b"AC1032")
    with pytest.raises(DocumentError, match="non pris en charge"):
        _load(odd)
