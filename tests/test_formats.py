"""Office formats and tables: real files made by the tests, real pandoc and LibreOffice.

Without pandoc or LibreOffice the tests that need them are skipped here and fail in CI.
"""

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from assistant.chunk import chunk_document
from assistant.clean import clean_document
from assistant.corpus import document_info
from assistant.errors import DocumentError
from assistant.load import LoadOptions, load_document
from tests.office_files import (make_doc, make_docx, make_ods, make_odp, make_odt, make_pdf, make_rtf, make_xlsx,
                                need_tool)

PARAGRAPH = "Le Département verse l'allocation personnalisée d'autonomie aux personnes âgées de plus de 60 ans."
TARIFS = [
    ["Prestation", "Tarif horaire (€)", "Unité"],
    ["Aide à domicile", "23,50", "heure"],
    ["Portage de repas", "8,20", "repas"],
    ["Téléassistance", "12,00", "mois"],
]


def _load(path: Path, **options):
    return load_document(document_info(path, path.parent, {}), LoadOptions(**options))


def _chunks(doc):
    return chunk_document(doc, clean_document(doc), 1000, 200)


def _row_chunk(chunks, needle: str):
    found = [c for c in chunks if needle in c.display]
    assert found, f"no passage holds {needle!r}: {[c.display for c in chunks]}"
    return found[0]


def test_xlsx_rows_keep_their_column_names_and_cite_sheet_and_row(tmp_path):
    path = make_xlsx(tmp_path / "tarifs.xlsx", {"Notes": [["Tarifs votés en 2024"]],
                                               "Tarifs": TARIFS + [["Accueil de jour", 41.5, "jour"]]})
    doc = load_document(document_info(path, path.parent, {}))
    chunk = _row_chunk(_chunks(doc), "Aide à domicile")
    # The header travels with the row, so the question's column name is in the passage.
    assert "Ligne 2 — Prestation : Aide à domicile ; Tarif horaire (€) : 23,50 ; Unité : heure." in chunk.display
    assert chunk.sheet == "Tarifs" and chunk.rows == (2, 5)
    assert chunk.where == "feuille « Tarifs », lignes 2 à 5"
    assert chunk.section == "Feuille « Tarifs »"
    assert "41,5" in chunk.display  # a number cell is written with the French decimal comma
    meta = chunk.metadata(doc)
    assert meta["sheet"] == "Tarifs" and meta["row_first"] == 2 and meta["row_last"] == 5


def test_long_sheet_is_cut_into_row_groups_each_with_the_header(tmp_path):
    rows = [["Commune", "Montant alloué"]] + [[f"Commune numéro {i}", f"{i * 1000} €"] for i in range(1, 121)]
    path = make_xlsx(tmp_path / "dotations.xlsx", {"Dotations": rows})
    chunks = _chunks(_load(path))
    assert len(chunks) > 3
    assert all("Montant alloué :" in line for c in chunks for line in c.display.splitlines())
    firsts = [c.rows[0] for c in chunks]
    assert firsts == sorted(firsts) and chunks[-1].rows[1] == 121


def test_ods_sheet_with_libreoffice_repeated_rows(tmp_path):
    path = make_ods(tmp_path / "tarifs.ods", {"Tarifs 2024": TARIFS})
    doc = _load(path)
    chunk = _row_chunk(_chunks(doc), "Portage de repas")
    assert "Prestation : Portage de repas ; Tarif horaire (€) : 8,20" in chunk.display
    assert chunk.where == "feuille « Tarifs 2024 », lignes 2 à 4"
    # The million repeated empty rows LibreOffice writes are neither expanded nor counted.
    assert len(doc.text) < 2000


def test_csv_semicolon_latin1(tmp_path):
    path = tmp_path / "aides.csv"
    path.write_bytes("Aide;Montant mensuel\nAllocation logement;245 €\nPrestation handicap;1 230 €\n".encode("cp1252"))
    chunk = _row_chunk(_chunks(_load(path)), "Prestation handicap")
    assert "Montant mensuel : 1 230 €" in chunk.display
    assert chunk.where == "fichier CSV, lignes 2 à 3"


def test_spreadsheet_above_the_row_setting_is_refused_naming_the_setting(tmp_path):
    big = tmp_path / "enorme.csv"
    with open(big, "w", encoding="utf-8") as fh:
        fh.write("id;valeur\n")
        fh.writelines(f"{i};{i % 97}\n" for i in range(1_000_000))
    with pytest.raises(DocumentError) as err:
        _load(big)  # default max_table_rows: 100 000
    message = str(err.value)
    assert "enorme.csv" in message and "ASSISTANT_MAX_TABLE_ROWS" in message
    sheet = make_xlsx(tmp_path / "grand.xlsx", {"Données": [["n"]] + [[i] for i in range(60)]})
    with pytest.raises(DocumentError, match="ASSISTANT_MAX_TABLE_ROWS"):
        _load(sheet, max_table_rows=50)
    ods = make_ods(tmp_path / "grand.ods", {"Données": [["n"]] + [[str(i)] for i in range(60)]})
    with pytest.raises(DocumentError, match="ASSISTANT_MAX_TABLE_ROWS"):
        _load(ods, max_table_rows=50)


def test_odt_through_pandoc_with_table(tmp_path):
    need_tool("pandoc", "pandoc")
    path = make_odt(tmp_path / "reglement.odt", "Règlement départemental d'aide sociale", [PARAGRAPH],
                    table=TARIFS)
    doc = _load(path)
    assert PARAGRAPH in doc.text
    chunks = _chunks(doc)
    chunk = _row_chunk(chunks, "Téléassistance")
    assert "Tarif horaire (€) : 12,00" in chunk.display
    assert chunk.where == "tableau 1, lignes 2 à 4"
    assert any(c.section.startswith("Règlement départemental") for c in chunks)


def test_doc_through_libreoffice(tmp_path):
    need_tool("soffice", "libreoffice-writer-nogui")
    path = make_doc(tmp_path / "courrier.doc", "Courrier au préfet", [PARAGRAPH, "Veuillez agréer nos salutations."])
    assert path.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"  # a real legacy Word file
    doc = _load(path)
    assert PARAGRAPH in doc.text


def test_rtf(tmp_path):
    need_tool("pandoc", "pandoc")
    doc = _load(make_rtf(tmp_path / "note.rtf", "Note de service", [PARAGRAPH]))
    assert "allocation personnalisée d'autonomie" in doc.text


def test_odp_slides_are_pages(tmp_path):
    path = make_odp(tmp_path / "presentation.odp", [["Le plan autonomie", "Trois axes pour 2025."],
                                                    ["Axe 1", PARAGRAPH]])
    doc = _load(path)
    chunk = _row_chunk(_chunks(doc), "allocation personnalisée")
    assert chunk.page == 2 and chunk.where == "diapositive 2"


def test_password_protected_and_corrupt_opendocument(tmp_path):
    locked = make_odt(tmp_path / "confidentiel.odt", "Titre", [PARAGRAPH], encrypted=True)
    with pytest.raises(DocumentError) as err:
        _load(locked)
    assert "confidentiel.odt" in str(err.value) and "mot de passe" in str(err.value)
    locked_sheet = make_ods(tmp_path / "paie.ods", {"A": [["x", "y"], ["1", "2"]]}, encrypted=True)
    with pytest.raises(DocumentError, match="mot de passe"):
        _load(locked_sheet)
    broken = tmp_path / "abime.odt"
    broken.write_bytes(make_odt(tmp_path / "ok.odt", "Titre", [PARAGRAPH]).read_bytes()[:300])
    with pytest.raises(DocumentError) as err:
        _load(broken)
    assert "abime.odt" in str(err.value) and "corrompu" in str(err.value)


# ----- metadata without a manifest ---------------------------------------------------------------
def test_title_date_publisher_from_document_properties(tmp_path):
    when = datetime(2024, 3, 15, 10, 30, tzinfo=timezone.utc)
    pdf = make_pdf(tmp_path / "scan-0042.pdf", [PARAGRAPH], title="Règlement départemental d'aide sociale",
                   author="Direction de l'autonomie", created=when)
    docx = make_docx(tmp_path / "doc1.docx", "Un intertitre", [PARAGRAPH], title="Schéma de l'autonomie 2024-2028",
                     author="jdupont", created=when, company="Département de la Creuse")
    odt = make_odt(tmp_path / "sans-nom.odt", "Un intertitre", [PARAGRAPH], title="Programme d'insertion",
                   date="2023-11-02T09:00:00", creator="Service insertion")
    expected = {
        pdf: ("Règlement départemental d'aide sociale", "2024-03-15", "Direction de l'autonomie"),
        docx: ("Schéma de l'autonomie 2024-2028", "2024-03-15", "Département de la Creuse"),  # Company first
        odt: ("Programme d'insertion", "2023-11-02", "Service insertion"),
    }
    for path, (title, date, publisher) in expected.items():
        info = document_info(path, tmp_path, {})
        assert (info.title, info.date, info.publisher) == (title, date, publisher), path.name
        assert info.origins == (("title", "propriétés"), ("date", "propriétés"), ("publisher", "propriétés"))
        if path.suffix != ".odt" or shutil.which("pandoc"):
            doc = load_document(info)  # loading keeps the properties' title over the first heading
            assert doc.info.title == title
            assert _chunks(doc)[0].metadata(doc)["title"] == title


def test_first_heading_then_file_name(tmp_path):
    # python-docx's template says creator « python-docx », created 2013-12-23: neither is kept.
    docx = make_docx(tmp_path / "note-2024.docx", "Note sur la prestation de compensation du handicap", [PARAGRAPH])
    info = document_info(docx, tmp_path, {})
    assert (info.title, info.date, info.publisher) == ("Note 2024", "non datée", "non précisé")
    doc = load_document(info)
    assert doc.info.title == "Note sur la prestation de compensation du handicap"
    assert doc.info.origin("title") == "titre" and doc.info.date == "non datée"
    assert _chunks(doc)[0].metadata(doc)["title"] == doc.info.title
    md = tmp_path / "apa.md"
    md.write_text("# L'allocation personnalisée d'autonomie\n\n" + PARAGRAPH + "\n", encoding="utf-8")
    assert _load(md).info.title == "L'allocation personnalisée d'autonomie"
    csv = tmp_path / "tarifs_aide-domicile.csv"
    csv.write_text("Prestation;Tarif\nAide à domicile;23,50\n", encoding="utf-8")
    doc = _load(csv)  # a sheet's only « heading » is the sheet name this code writes: file name
    assert doc.info.title == "Tarifs aide domicile" and doc.info.origin("title") == ""
    bad = tmp_path / "casse.docx"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    assert document_info(bad, tmp_path, {}).title == "Casse"  # unreadable properties: none, no error


def test_manifest_entry_wins_field_by_field(tmp_path):
    when = datetime(2024, 3, 15, tzinfo=timezone.utc)
    pdf = make_pdf(tmp_path / "r.pdf", [PARAGRAPH], title="Titre des propriétés", author="Auteur des propriétés",
                   created=when)
    info = document_info(pdf, tmp_path, {"r.pdf": {"file": "r.pdf", "title": "Titre du manifeste"}})
    assert (info.title, info.date, info.publisher) == ("Titre du manifeste", "2024-03-15", "Auteur des propriétés")
    assert info.origin("title") == "manifeste" and info.origin("date") == "propriétés"
    assert load_document(info).info.title == "Titre du manifeste"
