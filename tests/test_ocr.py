"""OCR of scanned PDFs with the real tesseract, on scans the tests make (text rendered to
images, then to PDF). Without tesseract these tests are skipped here and fail in CI.
The 20-page version, timed, is bench/ocr.py."""

import re
import unicodedata
from pathlib import Path

import pytest

from assistant.chunk import chunk_document
from assistant.clean import clean_document
from assistant.corpus import document_info
from assistant.errors import DocumentError
from assistant.load import LoadOptions, load_document
from tests.office_files import make_scanned_pdf, need_tool

PAGES = [
    "Délibération n° 2024-117 du Conseil départemental. Le Département décide de porter le tarif "
    "horaire de l'aide à domicile à 23,50 euros à compter du 1er avril 2024. L'État et le Département "
    "signent une convention d'appui aux politiques d'insertion des bénéficiaires du RSA.",
    "Cette page a une couche texte. Le revenu de solidarité active est versé par la caisse "
    "d'allocations familiales pour le compte du Département.",
    "Article 3. La présente délibération sera transmise au représentant de l'État dans le département "
    "et publiée au recueil des actes administratifs. Fait à Guéret, le 12 mars 2024.",
]


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.findall(r"[a-z0-9]+", folded)


def recall(truth: str, found: str) -> float:
    """Share of the true words found back, each as often as it occurs."""
    pool: dict[str, int] = {}
    for w in words(found):
        pool[w] = pool.get(w, 0) + 1
    hits = 0
    for w in words(truth):
        if pool.get(w, 0) > 0:
            pool[w] -= 1
            hits += 1
    return hits / max(1, len(words(truth)))


@pytest.fixture(scope="module")
def mixed_scan(tmp_path_factory) -> Path:
    need_tool("tesseract", "tesseract-ocr et tesseract-ocr-fra")
    path = tmp_path_factory.mktemp("scan") / "deliberation.pdf"
    return make_scanned_pdf(path, PAGES, text_pages=(2,))


def _load(path: Path, **options):
    return load_document(document_info(path, path.parent, {}), LoadOptions(**options))


def test_scanned_pages_are_read_by_ocr_and_text_pages_are_not(mixed_scan, tmp_path):
    doc = _load(mixed_scan, ocr_cache=tmp_path / "ocr")
    assert doc.pages == 3 and doc.ocr_pages == 2
    ocr_blocks = [b for b in doc.blocks if b.ocr_confidence is not None]
    assert {b.page for b in ocr_blocks} == {1, 3}
    assert all(b.where == f"texte reconnu par OCR, page {b.page}" for b in ocr_blocks)
    assert all(b.ocr_confidence > 60 for b in ocr_blocks)
    assert not any(b.ocr_confidence is not None for b in doc.blocks if b.page == 2)
    for number in (1, 3):
        found = " ".join(b.search for b in clean_document(doc) if b.page == number)
        assert recall(PAGES[number - 1], found) >= 0.95, found
    chunks = chunk_document(doc, clean_document(doc), 1000, 200)
    first = next(c for c in chunks if "23,50" in c.display)
    meta = first.metadata(doc)
    assert meta["ocr"] is True and meta["page"] == 1 and meta["where"] == "texte reconnu par OCR, page 1"
    assert 0 < meta["ocr_confidence"] <= 100
    # The pages are cached by the file's hash: a second load (resume, document view) is the same.
    assert list((tmp_path / "ocr").glob("*.json"))
    again = _load(mixed_scan, ocr_cache=tmp_path / "ocr")
    assert again.text == doc.text


def test_pages_under_the_confidence_floor_are_indexed_and_flagged(mixed_scan):
    doc = _load(mixed_scan, ocr_min_confidence=99.5)
    assert any(b.page == 1 for b in doc.blocks)
    flagged = [w for w in doc.warnings if "confiance faible" in w]
    assert len(flagged) == 2 and "page 1" in flagged[0] and "ASSISTANT_OCR_MIN_CONFIDENCE" in flagged[0]
    assert "deliberation.pdf" in flagged[0]


def test_image_only_pdf_where_ocr_finds_nothing(tmp_path):
    need_tool("tesseract", "tesseract-ocr et tesseract-ocr-fra")
    path = make_scanned_pdf(tmp_path / "blanc.pdf", [" "])
    with pytest.raises(DocumentError) as err:
        _load(path)
    assert "blanc.pdf" in str(err.value) and "l'OCR n'y a reconnu aucun texte" in str(err.value)


def test_without_tesseract_the_message_names_the_package(tmp_path, monkeypatch, mixed_scan):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where no tesseract is installed
    with pytest.raises(DocumentError) as err:
        _load(mixed_scan)
    message = str(err.value)
    assert "tesseract-ocr" in message and "tesseract-ocr-fra" in message and "deliberation.pdf" in message


def test_password_protected_pdf(tmp_path):
    import pypdf
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 10, "Convention confidentielle entre l'État et le Département.")
    plain = tmp_path / "plain.pdf"
    pdf.output(str(plain))
    writer = pypdf.PdfWriter(clone_from=str(plain))
    writer.encrypt("secret")
    locked = tmp_path / "convention.pdf"
    with open(locked, "wb") as fh:
        writer.write(fh)
    with pytest.raises(DocumentError) as err:
        _load(locked)
    assert "convention.pdf" in str(err.value) and "mot de passe" in str(err.value)
