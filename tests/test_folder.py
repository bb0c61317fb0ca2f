"""A whole shared drive in one `ingest`: subfolders kept as paths, junk and duplicates named in
the report, mixed formats, and a spreadsheet row found with its sheet and row. Real Chroma,
real embedding model, real tesseract and pandoc (skipped here without them, failing in CI)."""

from pathlib import Path

import pytest

from assistant.ingest import ingest
from assistant.retrieve import Retriever
from tests.conftest import make_settings
from tests.office_files import make_docx, make_odt, make_pdf, make_scanned_pdf, make_xlsx, need_tool

TARIFS = [["Prestation", "Tarif horaire (€)", "Unité"],
          ["Aide à domicile", "23,50", "heure"],
          ["Portage de repas", "8,20", "repas"],
          ["Téléassistance", "12,00", "mois"]]


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> Path:
    """What a département's shared drive looks like, in miniature."""
    need_tool("tesseract", "tesseract-ocr et tesseract-ocr-fra")
    need_tool("pandoc", "pandoc")
    root = tmp_path_factory.mktemp("partage") / "Partage-Solidarites"
    (root / "Autonomie" / "Tarifs").mkdir(parents=True)
    (root / "Insertion").mkdir()
    (root / ".svn").mkdir()
    make_xlsx(root / "Autonomie" / "Tarifs" / "tarifs-2024.xlsx", {"Tarifs": TARIFS})
    note = ("Le schéma départemental de l'autonomie 2024-2028 prévoit de renforcer l'aide à domicile "
            "et d'ouvrir deux accueils de jour pour les personnes atteintes de troubles cognitifs.")
    (root / "Autonomie" / "schema.txt").write_text(note, encoding="utf-8")
    (root / "Autonomie" / "schema-copie.txt").write_text(note, encoding="utf-8")  # the same file twice
    make_odt(root / "Insertion" / "pdi.odt", "Programme départemental d'insertion",
             ["Le programme départemental d'insertion finance l'accompagnement des bénéficiaires du RSA "
              "vers l'emploi, avec les missions locales et France Travail."])
    make_scanned_pdf(root / "Insertion" / "convention-signee.pdf",
                     ["Convention entre l'État et le Département pour l'insertion des allocataires du revenu "
                      "de solidarité active, signée à Guéret le 4 avril 2024."])
    (root / "Insertion" / "~$pdi.docx").write_bytes(b"\x00lock")
    (root / "Insertion" / ".~lock.pdi.odt#").write_text("lock", encoding="utf-8")
    (root / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / ".svn" / "entries").write_text("12", encoding="utf-8")
    (root / "plan.dwg").write_bytes(b"AC1032")
    return root


@pytest.fixture(scope="module")
def indexed(drive, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("index")
    corpus = tmp / "corpus"
    corpus.mkdir()
    settings = make_settings(tmp, corpus)
    return settings, ingest(settings, paths=[drive])


def test_every_file_is_indexed_or_named_with_its_reason(indexed, drive):
    settings, report = indexed
    assert report.documents == 4 and report.indexed == 4, report
    copied = settings.corpus_dir / "Partage-Solidarites"
    assert (copied / "Autonomie" / "Tarifs" / "tarifs-2024.xlsx").is_file()
    assert not (copied / "Insertion" / "~$pdi.docx").exists()  # junk is not copied in
    named = "\n".join(report.errors + report.ignored)
    assert "plan.dwg : format .dwg non pris en charge" in named
    for junk in ("~$pdi.docx : fichier de verrouillage", ".~lock.pdi.odt# : fichier de verrouillage",
                 "Thumbs.db : fichier temporaire ou système", ".svn : dossier caché"):
        assert junk in named, junk
    assert "schema.txt : même contenu que Partage-Solidarites/Autonomie/schema-copie.txt" in named
    assert report.pages == 1 and report.ocr_pages == 1


def test_junk_in_the_corpus_is_reported(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / ".cache").mkdir(parents=True)
    (corpus / "note.txt").write_text("Le Département finance la prestation de compensation du handicap.",
                                     encoding="utf-8")
    (corpus / "~$note.docx").write_bytes(b"\x00")
    (corpus / ".~lock.note.odt#").write_text("x", encoding="utf-8")
    (corpus / "desktop.ini").write_text("x", encoding="utf-8")
    (corpus / ".cache" / "a.txt").write_text("x", encoding="utf-8")
    report = ingest(make_settings(tmp_path, corpus))
    assert report.documents == 1 and not report.errors
    ignored = "\n".join(report.ignored)
    assert "~$note.docx : fichier de verrouillage" in ignored
    assert ".~lock.note.odt# : fichier de verrouillage" in ignored
    assert "desktop.ini : fichier temporaire ou système" in ignored
    assert ".cache : dossier caché" in ignored and "a.txt" not in ignored


def test_paths_and_folders_are_fields_and_rows_are_cited(indexed):
    settings, _ = indexed
    retriever = Retriever(settings)
    results = retriever.search("quel est le tarif horaire de l'aide à domicile ?", k=3)
    top = results[0]
    assert top.meta["doc_id"] == "Partage-Solidarites/Autonomie/Tarifs/tarifs-2024.xlsx"
    assert top.meta["folder"] == "Partage-Solidarites/Autonomie/Tarifs"
    assert "Aide à domicile ; Tarif horaire (€) : 23,50" in top.text
    source = top.source()
    assert source["where"] == "feuille « Tarifs », lignes 2 à 4" and source["rows"] == [2, 4]
    scanned = retriever.search("convention signée à Guéret pour les allocataires du RSA", k=3)
    hit = next(r for r in scanned if r.meta["doc_id"].endswith("convention-signee.pdf"))
    assert hit.source()["where"] == "texte reconnu par OCR, page 1" and hit.source()["ocr_confidence"] > 0


def test_second_run_is_a_no_op(indexed, drive):
    settings, _ = indexed
    again = ingest(settings, paths=[drive])
    assert again.indexed == 0 and again.skipped == 4 and again.embedded == 0


def test_document_view_of_a_scan_reads_the_ocr_cache(indexed, monkeypatch, tmp_path):
    from assistant.documents import document_text

    settings, _ = indexed
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract to run: the text must come from the cache
    text = document_text(settings, "Partage-Solidarites/Insertion/convention-signee.pdf")
    assert "Guéret" in text


def test_ingest_takes_metadata_from_the_files_and_the_manifest_still_wins(tmp_path):
    from datetime import datetime, timezone

    from assistant.documents import list_documents

    corpus = tmp_path / "corpus"
    (corpus / "Autonomie").mkdir(parents=True)
    make_pdf(corpus / "Autonomie" / "doc-0001.pdf", ["L'aide à domicile est tarifée 23,50 euros de l'heure."],
             title="Tarifs de l'aide à domicile 2024", author="Direction de l'autonomie",
             created=datetime(2024, 1, 8, tzinfo=timezone.utc))
    make_docx(corpus / "Autonomie" / "x.docx", "Charte de la bientraitance en établissement",
              ["La charte de la bientraitance s'applique à tous les établissements médico-sociaux."])
    settings = make_settings(tmp_path, corpus)
    report = ingest(settings)
    assert report.indexed == 2 and not report.errors, report
    docs = {d["doc_id"]: d for d in list_documents(settings)}
    pdf, docx = docs["Autonomie/doc-0001.pdf"], docs["Autonomie/x.docx"]
    assert (pdf["title"], pdf["date"], pdf["publisher"]) == ("Tarifs de l'aide à domicile 2024", "2024-01-08",
                                                             "Direction de l'autonomie")
    assert docx["title"] == "Charte de la bientraitance en établissement"  # its first heading
    hit = Retriever(settings).search("charte bientraitance établissements")[0]
    assert hit.meta["title"] == "Charte de la bientraitance en établissement"
    # The heading is remembered by content: an unchanged file is not loaded again.
    again = ingest(settings)
    assert again.skipped == 2 and again.indexed == 0, again
    (corpus / "manifest.toml").write_text(
        '[[document]]\nfile = "Autonomie/x.docx"\ntitle = "Charte départementale"\ndate = "2023-06"\n',
        encoding="utf-8")
    third = ingest(settings)
    assert third.indexed == 1 and third.skipped == 1, third
    docx = {d["doc_id"]: d for d in list_documents(settings)}["Autonomie/x.docx"]
    assert (docx["title"], docx["date"], docx["publisher"]) == ("Charte départementale", "2023-06", "non précisé")
    hit = Retriever(settings).search("charte bientraitance établissements")[0]
    assert hit.meta["title"] == "Charte départementale" and hit.meta["date"] == "2023-06"


def test_relative_path_is_a_filter_field_library_and_cli(indexed):
    import json
    import os
    import subprocess
    import sys

    from assistant.documents import documents_in_folder, folder_where, list_documents, list_folders
    from assistant.errors import AssistantError
    from assistant.store import Store

    settings, _ = indexed
    counts = {f["folder"]: f["documents"] for f in list_folders(settings)}
    assert counts == {"": 4, "Partage-Solidarites": 4, "Partage-Solidarites/Autonomie": 2,
                      "Partage-Solidarites/Autonomie/Tarifs": 1, "Partage-Solidarites/Insertion": 2}
    autonomie = {d["doc_id"] for d in list_documents(settings) if d["doc_id"].startswith("Partage-Solidarites/Autonomie/")}
    assert len(autonomie) == 2 and "Partage-Solidarites/Autonomie/Tarifs/tarifs-2024.xlsx" in autonomie
    assert {d["doc_id"] for d in documents_in_folder(settings, "Partage-Solidarites/Autonomie")} == autonomie
    assert {d["doc_id"] for d in documents_in_folder(settings, "partage-solidarites\\autonomie/")} == autonomie
    assert len(documents_in_folder(settings, "")) == 4
    with pytest.raises(AssistantError, match="Aucun document indexé dans le dossier « Social ».*Insertion"):
        documents_in_folder(settings, "Social")
    with pytest.raises(AssistantError, match="sans « .. »"):
        documents_in_folder(settings, "Partage-Solidarites/../..")
    # The clause a search filter passes to Chroma: exactly the passages under that folder.
    _, collection = Store(settings).ready_generation()
    got = collection.get(where=folder_where(settings, "Partage-Solidarites/Autonomie"), include=["metadatas"])
    assert got["ids"] and {m["doc_id"] for m in got["metadatas"]} == autonomie
    assert folder_where(settings, "") is None
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_COLLECTION": settings.collection}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "assistant.cli", "documents", *args], capture_output=True,
                              text=True, env=env, timeout=300)

    out = cli("--folder", "Partage-Solidarites/Autonomie", "--json")
    assert out.returncode == 0, out.stderr
    assert {d["doc_id"] for d in json.loads(out.stdout)} == autonomie
    out = cli("--folder", "Partage-Solidarites/Insertion")
    assert out.returncode == 0 and "Partage-Solidarites/Insertion/pdi.odt — Programme départemental d'insertion" in out.stdout
    assert "2 documents dans « Partage-Solidarites/Insertion »" in out.stderr
    out = cli("--folder", "Social")
    assert out.returncode == 1 and "Erreur : Aucun document indexé dans le dossier « Social »" in out.stderr
    out = cli("--folders")
    assert "Partage-Solidarites/Autonomie : 2 documents" in out.stdout
