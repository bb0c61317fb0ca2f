"""Documents: safe uploads into the corpus, indexing, duplicates, refusals, deletion (real index)."""

import io
import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.corpus import list_files, read_manifest
from assistant.documents import UploadError, add_document, delete_document, document_text, list_documents, safe_name
from assistant.ingest import ingest
from assistant.retrieve import Retriever

from .conftest import ARTICLE, SEED_CORPUS, STRATEGY, make_settings

NEW_TEXT = ("Le dispositif Zorglub du Département de test\n\n"
            "Le dispositif Zorglub accompagne les aidants familiaux du territoire depuis 2022.\n"
            "<script>alert('x')</script>\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The two-document corpus indexed once; each test works on its own copy."""
    tmp = tmp_path_factory.mktemp("docs")
    corpus = tmp / "corpus"
    corpus.mkdir()
    for name in (ARTICLE, STRATEGY, "manifest.toml"):
        shutil.copy(SEED_CORPUS / name, corpus / name)
    settings = make_settings(tmp, corpus)
    assert not ingest(settings).errors
    return tmp


@pytest.fixture
def indexed(built, tmp_path):
    shutil.copytree(built / "corpus", tmp_path / "corpus")
    shutil.copytree(built / "index", tmp_path / "index")
    return make_settings(tmp_path, tmp_path / "corpus", upload_max_mb=1)


def _file(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\evil.md", "evil.md"),
    (".hidden.txt", "hidden.txt"),
    ("Rapport d'activité 2024 (v2).PDF", "Rapport-d-activite-2024-v2.pdf"),
    ("manifest.toml", "manifest.toml"),
    ("", "document"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_upload_is_indexed_searchable_and_listed(indexed, tmp_path):
    upload = _file(tmp_path, "zorglub.txt", NEW_TEXT)
    seen = []
    result = add_document(indexed, upload, "../../zorglub.txt", {"title": "Le dispositif Zorglub", "date": "2024-05"},
                          progress=lambda event, **info: seen.append(event))
    assert result.added and result.doc_id == "zorglub.txt" and result.chunks >= 1
    assert "start" in seen and "embedded" in seen and "done" in seen
    assert (indexed.corpus_dir / "zorglub.txt").read_text(encoding="utf-8") == NEW_TEXT
    assert not (tmp_path / "zorglub.txt").exists()  # the traversal landed nowhere else
    assert read_manifest(indexed.corpus_dir)["zorglub.txt"]["title"] == "Le dispositif Zorglub"
    docs = {d["doc_id"]: d for d in list_documents(indexed)}
    assert set(docs) == {ARTICLE, STRATEGY, "zorglub.txt"}
    assert docs["zorglub.txt"]["chunks"] == result.chunks and docs["zorglub.txt"]["date"] == "2024-05"
    hits = Retriever(indexed).search("dispositif Zorglub aidants")
    assert hits[0].meta["doc_id"] == "zorglub.txt"
    assert "<script>" in document_text(indexed, "zorglub.txt")  # shown escaped by the renderer, kept as is here

    again = add_document(indexed, _file(tmp_path, "copie.txt", NEW_TEXT), "copie.txt")
    assert not again.added and "déjà" in again.message
    assert sorted(p.name for p in list_files(indexed.corpus_dir)[0]) == sorted([ARTICLE, STRATEGY, "zorglub.txt"])


@pytest.mark.parametrize("name, data, message", [
    ("virus.exe", b"MZ\x90\x00", "non pris en charge"),
    ("notes", b"texte", "non pris en charge"),
    ("vide.txt", b"", "vide"),
    ("faux.pdf", b"<html>pas un pdf</html>", "PDF valide"),
    ("faux.docx", b"PK\x03\x04 pas un zip complet", "corrompu"),
    ("gros.txt", b"a" * (1024 * 1024 + 1), "trop volumineux"),
])
def test_refused_before_parsing(indexed, tmp_path, name, data, message):
    before = list_documents(indexed)
    with pytest.raises(UploadError, match=message):
        add_document(indexed, _file(tmp_path, name, data), name)
    assert list_documents(indexed) == before
    assert not any(p.name == safe_name(name) for p in indexed.corpus_dir.iterdir())


def test_docx_zip_bomb_is_refused_before_parsing(indexed, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"<w:document>" + b"0" * (30 * 1024 * 1024) + b"</w:document>")
    path = _file(tmp_path, "bombe.docx", buf.getvalue())
    assert path.stat().st_size < 1024 * 1024  # small on disk, 30 MB inflated
    with pytest.raises(UploadError, match="sécurité"):
        add_document(replace(indexed, upload_max_mb=5), path, "bombe.docx")
    assert not (indexed.corpus_dir / "bombe.docx").exists()


def test_corrupt_pdf_is_taken_back_out_and_index_unchanged(indexed, tmp_path):
    before = list_documents(indexed)
    path = _file(tmp_path, "casse.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 200)
    with pytest.raises(UploadError, match="casse.pdf"):
        add_document(indexed, path, "casse.pdf")
    assert not (indexed.corpus_dir / "casse.pdf").exists()
    assert [d["doc_id"] for d in list_documents(indexed)] == [d["doc_id"] for d in before]


def test_new_version_replaces_and_a_broken_one_keeps_the_old(indexed, tmp_path):
    add_document(indexed, _file(tmp_path, "zorglub.txt", NEW_TEXT), "zorglub.txt")
    v2 = NEW_TEXT.replace("depuis 2022", "depuis 2023, avec 40 places")
    result = add_document(indexed, _file(tmp_path, "v2/zorglub.txt".replace("/", "_"), v2), "zorglub.txt")
    assert result.added and "mis à jour" in result.message
    assert "40 places" in document_text(indexed, "zorglub.txt")
    assert len([d for d in list_documents(indexed) if d["doc_id"] == "zorglub.txt"]) == 1
    with pytest.raises(UploadError, match="ancienne version"):
        add_document(indexed, _file(tmp_path, "blanc.txt", b"  \n\n   \n"), "zorglub.txt")
    assert "40 places" in document_text(indexed, "zorglub.txt")


def test_delete_removes_file_and_passages(indexed, tmp_path):
    add_document(indexed, _file(tmp_path, "zorglub.txt", NEW_TEXT), "zorglub.txt")
    message = delete_document(indexed, "zorglub.txt")
    assert "supprimé" in message and not (indexed.corpus_dir / "zorglub.txt").exists()
    assert {d["doc_id"] for d in list_documents(indexed)} == {ARTICLE, STRATEGY}
    assert all(r.meta["doc_id"] != "zorglub.txt" for r in Retriever(indexed).search("dispositif Zorglub aidants"))
    for bad in ("zorglub.txt", "../../etc/passwd", ""):
        with pytest.raises(UploadError, match="introuvable"):
            delete_document(indexed, bad)


def test_document_text_counts_the_lines_citations_use(indexed):
    text = document_text(indexed, STRATEGY)
    hit = Retriever(indexed).search("fonds de contractualisation 135 millions 2019")[0]
    src = hit.source()
    lines = text.splitlines()[src["start_line"] - 1 : src["end_line"]]
    assert "135 millions" in " ".join(lines)
    with pytest.raises(UploadError):
        document_text(indexed, "../corpus/" + STRATEGY)


# ----- the manifest: written by the admin's corrections, kept readable -------------------------
MANIFEST = '''# Our catalogue: keep this comment.
[[document]]
file = "a.txt"  # the first one
title = "Titre A"
kind = "note"

# B's own comment
[[document]]
file = "b.txt"
title = "Titre B"
notes = "à garder"
'''


def test_manifest_edits_keep_other_entries_and_comments(tmp_path):
    from assistant.corpus import remove_manifest_entry, set_manifest_entry
    from assistant.errors import CorpusError

    (tmp_path / "manifest.toml").write_text(MANIFEST, encoding="utf-8")
    set_manifest_entry(tmp_path, "a.txt", {"title": "Titre « corrigé »\n", "date": "2024-03", "publisher": ""})
    set_manifest_entry(tmp_path, "Sous/c.txt", {"title": "Titre C", "date": "", "publisher": "Département"})
    text = (tmp_path / "manifest.toml").read_text(encoding="utf-8")
    assert "# Our catalogue: keep this comment." in text and "# B's own comment" in text
    entries = read_manifest(tmp_path)
    assert entries["a.txt"] == {"file": "a.txt", "title": "Titre « corrigé »", "kind": "note", "date": "2024-03"}
    assert entries["b.txt"] == {"file": "b.txt", "title": "Titre B", "notes": "à garder"}
    assert entries["Sous/c.txt"] == {"file": "Sous/c.txt", "title": "Titre C", "publisher": "Département"}
    set_manifest_entry(tmp_path, "e.txt", {"title": "", "date": ""})  # nothing to record: no entry
    assert "e.txt" not in read_manifest(tmp_path)
    assert remove_manifest_entry(tmp_path, "a.txt") and not remove_manifest_entry(tmp_path, "a.txt")
    assert set(read_manifest(tmp_path)) == {"b.txt", "Sous/c.txt"}
    assert "# B's own comment" in (tmp_path / "manifest.toml").read_text(encoding="utf-8")
    # A value on several lines cannot be edited line by line: refused, the file untouched.
    (tmp_path / "manifest.toml").write_text('[[document]]\nfile = "d.txt"\ntitle = """Un\ntitre"""\n', encoding="utf-8")
    before = (tmp_path / "manifest.toml").read_bytes()
    with pytest.raises(CorpusError, match="sans risque"):
        set_manifest_entry(tmp_path, "d.txt", {"title": "Nouveau"})
    (tmp_path / "manifest.toml").write_text("[[document]\nfile = ", encoding="utf-8")
    with pytest.raises(CorpusError, match="illisible"):
        set_manifest_entry(tmp_path, "d.txt", {"title": "Nouveau"})
    assert (tmp_path / "manifest.toml").read_text(encoding="utf-8") == "[[document]\nfile = "
    assert before.startswith(b"[[document]]")


def test_admin_correction_is_written_to_the_manifest_and_shown_in_citations(indexed):
    from assistant.documents import update_metadata

    question = "fonds de contractualisation 135 millions 2019"
    assert Retriever(indexed).search(question)[0].meta["doc_id"] == STRATEGY
    manifest_before = read_manifest(indexed.corpus_dir)
    message = update_metadata(indexed, STRATEGY, title="Stratégie pauvreté : la contractualisation",
                              date="2019-09", publisher="Délégation interministérielle")
    assert "manifest.toml" in message and "Stratégie pauvreté : la contractualisation" in message
    entry = read_manifest(indexed.corpus_dir)[STRATEGY]
    assert (entry["title"], entry["date"], entry["publisher"]) == (
        "Stratégie pauvreté : la contractualisation", "2019-09", "Délégation interministérielle")
    assert entry["kind"] == manifest_before[STRATEGY]["kind"]  # the fields not corrected stay
    assert read_manifest(indexed.corpus_dir)[ARTICLE] == manifest_before[ARTICLE]
    hit = Retriever(indexed).search(question)[0]
    assert hit.meta["doc_id"] == STRATEGY
    src = hit.source()
    assert (src["title"], src["date"], src["publisher"]) == (
        "Stratégie pauvreté : la contractualisation", "2019-09", "Délégation interministérielle")
    doc = next(d for d in list_documents(indexed) if d["doc_id"] == STRATEGY)
    assert doc["title"] == "Stratégie pauvreté : la contractualisation" and doc["date"] == "2019-09"
    # What a user can get wrong gets a French message naming the document; nothing changes.
    snapshot = (indexed.corpus_dir / "manifest.toml").read_bytes()
    for kwargs, expected in (({"date": "15/03/2024"}, "AAAA-MM-JJ"), ({"date": "2024-13"}, "impossible"),
                             ({"title": "x" * 400}, "trop long")):
        with pytest.raises(UploadError, match=expected) as err:
            update_metadata(indexed, STRATEGY, **kwargs)
        assert STRATEGY in str(err.value)
    with pytest.raises(UploadError, match="introuvable"):
        update_metadata(indexed, "../manifest.toml", title="x")
    assert (indexed.corpus_dir / "manifest.toml").read_bytes() == snapshot


def test_deleting_a_document_removes_its_manifest_entry(indexed, tmp_path):
    add_document(indexed, _file(tmp_path, "zorglub.txt", NEW_TEXT), "zorglub.txt", {"title": "Le dispositif Zorglub"})
    assert "zorglub.txt" in read_manifest(indexed.corpus_dir)
    message = delete_document(indexed, "zorglub.txt")
    assert "manifeste" in message
    assert read_manifest(indexed.corpus_dir) == read_manifest(SEED_CORPUS)  # the other entries as they were


def test_correction_handler_of_the_documents_view(indexed):
    """The web handler itself, called as Gradio calls it (no browser)."""
    from app import build

    settings = replace(indexed, admin_token="jeton-admin")
    _, blocks = build(settings)
    handlers = {f.name: f.fn for f in blocks.fns.values()}
    on_fix, on_choose_fix, on_choose_delete = handlers["on_fix"], handlers["on_choose_fix"], handlers["on_choose_delete"]
    title, publisher, date = on_choose_fix(STRATEGY)
    assert title == next(d["title"] for d in list_documents(indexed) if d["doc_id"] == STRATEGY)
    assert on_choose_fix(None) == on_choose_fix("absent.txt") == ("", "", "")  # nothing chosen, nothing filled
    shown = on_choose_delete(STRATEGY)
    assert shown["visible"] and shown["value"] is False and title in shown["label"]
    assert not on_choose_delete(None)["visible"] and not on_choose_delete("absent.txt")["visible"]
    refused = on_fix("mauvais", STRATEGY, "Autre titre", publisher, date)
    assert "incorrect" in refused[0] and read_manifest(indexed.corpus_dir)[STRATEGY]["title"] == title
    bad = on_fix("jeton-admin", STRATEGY, "Autre titre", publisher, "mars 2019")
    assert "AAAA-MM-JJ" in bad[0] and STRATEGY in bad[0]
    done = on_fix("jeton-admin", STRATEGY, "Autre titre", publisher, date)
    assert "Autre titre" in done[0] and "Autre titre" in done[1]  # status and documents table
    assert read_manifest(indexed.corpus_dir)[STRATEGY]["title"] == "Autre titre"
    assert Retriever(indexed).search("fonds de contractualisation 135 millions 2019")[0].meta["title"] == "Autre titre"


# ----- several files, or a .zip of a folder --------------------------------------------------
def _zip(path: Path, entries: dict[str, bytes | str], method=zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_several_files_and_a_zipped_folder_in_one_upload(indexed, tmp_path):
    from assistant.documents import add_documents
    from tests.office_files import make_xlsx

    (tmp_path / "src").mkdir()
    xlsx = make_xlsx(tmp_path / "src" / "tarifs.xlsx", {"Tarifs": [["Prestation", "Tarif horaire (€)"],
                                                                     ["Aide à domicile", "23,50"]]})
    tree = {
        "Partage/Autonomie/tarifs.xlsx": xlsx.read_bytes(),
        "Partage/Autonomie/schéma autonomie.txt": "Le schéma départemental de l'autonomie Zorglub 2024-2028 "
                                                  "ouvre deux accueils de jour.\n",
        "Partage/Insertion/note.md": "# Note Zorglub sur l'insertion\n\nLe dispositif Zorglub finance l'insertion.\n",
        "Partage/Insertion/~$note.docx": b"\x00lock",
        "Partage/.git/config": "[core]\n",
        "Partage/plan.dwg": b"AC1032",
        "Partage/vide.txt": "",
    }
    archive = _zip(tmp_path / "up" / "Partage.zip", tree)
    single = _file(tmp_path, "zorglub.txt", NEW_TEXT)
    broken = _file(tmp_path, "casse.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 200)
    same = _file(tmp_path, "copie.txt", (SEED_CORPUS / ARTICLE).read_bytes())
    before = {d["doc_id"] for d in list_documents(indexed)}
    result = add_documents(indexed, [(archive, "Partage.zip"), (single, "zorglub.txt"), (broken, "casse.pdf"),
                                     (same, "copie.txt")])
    assert sorted(result.added) == ["Partage/Autonomie/schema-autonomie.txt", "Partage/Autonomie/tarifs.xlsx",
                                    "Partage/Insertion/note.md", "zorglub.txt"], result
    docs = {d["doc_id"] for d in list_documents(indexed)}
    assert docs == before | set(result.added)  # nothing already indexed lost
    message = result.message
    assert "plan.dwg : format .dwg non pris en charge" in message
    assert "vide.txt" in message and "vide" in message
    assert "casse.pdf" in message and not (indexed.corpus_dir / "casse.pdf").exists()
    assert f"copie.txt : déjà présent sous « {ARTICLE} »" in message
    assert "~$note.docx : fichier de verrouillage" in message and ".git : dossier caché" in message
    hit = Retriever(indexed).search("tarif horaire aide à domicile")[0]
    assert hit.meta["doc_id"] == "Partage/Autonomie/tarifs.xlsx" and hit.meta["folder"] == "Partage/Autonomie"
    assert hit.source()["where"] == "feuille « Tarifs », ligne 2"
    # A zip of loose files lands under a folder named after the archive.
    loose = _zip(tmp_path / "up" / "Notes 2024.zip", {"a.txt": "Le dispositif Zorglub aide les aidants de Guéret.\n"})
    assert add_documents(indexed, [(loose, "Notes 2024.zip")]).added == ["Notes-2024/a.txt"]


@pytest.mark.parametrize("entries, expected", [
    ({"../../evil.txt": "x"}, "sort du dossier"),
    ({"dossier/../../evil.txt": "x"}, "sort du dossier"),
    ({"/etc/cron.d/evil.txt": "x"}, "sort du dossier"),
    ({"C:\\Windows\\evil.txt": "x"}, "sort du dossier"),
])
def test_zip_with_paths_escaping_the_folder_is_refused_whole(indexed, tmp_path, entries, expected):
    from assistant.documents import add_documents

    archive = _zip(tmp_path / "up" / "piege.zip", {"ok.txt": "Le dispositif Zorglub, un texte sans danger.\n",
                                                   **entries})
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if "up" not in p.parts)
    result = add_documents(indexed, [(archive, "piege.zip")])
    assert not result.added and len(result.refused) == 1
    assert "piege.zip" in result.refused[0] and expected in result.refused[0]
    assert "rien n'a été extrait" in result.refused[0]
    after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if "up" not in p.parts)
    assert after == before  # nothing written anywhere, not even the harmless file
    assert not Path("/etc/cron.d/evil.txt").exists()


def test_zip_bomb_and_oversized_zips_are_refused_before_extraction(indexed, tmp_path):
    from assistant.documents import add_documents

    bomb = _zip(tmp_path / "up" / "bombe.zip", {"a.txt": b"0" * (50 * 1024 * 1024)})
    assert bomb.stat().st_size < 200 * 1024  # small on disk, 50 MB inflated (ratio ~1000:1)
    result = add_documents(indexed, [(bomb, "bombe.zip")])
    assert "bombe.zip" in result.refused[0] and "sécurité" in result.refused[0]
    many = _zip(tmp_path / "up" / "nombreux.zip", {f"f{i}.txt": os.urandom(64).hex() for i in range(6)})
    refused = add_documents(replace(indexed, zip_max_files=5), [(many, "nombreux.zip")]).refused[0]
    assert "6 fichiers" in refused and "ASSISTANT_ZIP_MAX_FILES" in refused
    big = _zip(tmp_path / "up" / "gros.zip", {"g.txt": os.urandom(700 * 1024).hex()})  # 1.4 MB, ratio ~2
    refused = add_documents(replace(indexed, upload_max_mb=5, zip_max_mb=1), [(big, "gros.zip")]).refused[0]
    assert "gros.zip" in refused and "ASSISTANT_ZIP_MAX_MB" in refused
    # An archive whose entries lie about their size: never more than declared is written, and refused.
    liar = tmp_path / "up" / "menteur.zip"
    _zip(liar, {"l.txt": "Le dispositif Zorglub. " * 50}, method=zipfile.ZIP_STORED)
    raw = bytearray(liar.read_bytes())
    # Declare 10 bytes in both headers (local at offset 22, central directory after the data).
    for at in (22, raw.rfind(b"PK\x01\x02") + 24):
        raw[at:at + 4] = (10).to_bytes(4, "little")
    liar.write_bytes(bytes(raw))
    refused = add_documents(indexed, [(liar, "menteur.zip")]).refused
    assert refused and "menteur.zip" in refused[0] and "rien n'a été ajouté" in refused[0]
    assert not (indexed.corpus_dir / "menteur").exists()
    empty = _zip(tmp_path / "up" / "vide.zip", {})
    assert "vide.zip" in add_documents(indexed, [(empty, "vide.zip")]).refused[0]
    corrupt = _file(tmp_path, "casse.zip", b"PK\x03\x04 tronque")
    assert "corrompue" in add_documents(indexed, [(corrupt, "casse.zip")]).refused[0]
    assert {d["doc_id"] for d in list_documents(indexed)} == {ARTICLE, STRATEGY}


def test_upload_handler_takes_several_files_and_a_zip(indexed, tmp_path):
    """The web upload handler with what a multiple-file upload gives it (no browser)."""
    from app import build

    _, blocks = build(replace(indexed, admin_token="jeton-admin"))
    on_upload = next(f.fn for f in blocks.fns.values() if f.name == "on_upload")
    archive = _zip(tmp_path / "up" / "Dossier.zip", {"Dossier/a.txt": "Le dispositif Zorglub aide les aidants.\n",
                                                     "Dossier/../../b.txt": "x"})
    single = _file(tmp_path, "zorglub.txt", NEW_TEXT)
    outputs = list(on_upload("jeton-admin", None, "", "", "", [str(archive), str(single)]))
    status, table = outputs[-1][0], outputs[-1][1]
    assert "Dossier.zip" in status and "sort du dossier" in status and "zorglub.txt" in status
    assert 'class="status ok"' in status and "zorglub.txt" in table
    assert not (indexed.corpus_dir / "Dossier").exists()
    zipped = _zip(tmp_path / "up2" / "Dossier.zip", {"Dossier/a.txt": "Le dispositif Zorglub aide les aidants.\n"})
    status = list(on_upload("jeton-admin", str(zipped), "", "", ""))[-1][0]  # a .zip in the one-file box
    assert "Dossier/a.txt" in status and (indexed.corpus_dir / "Dossier" / "a.txt").exists()


# ----- indexing an upload as a job of the server ------------------------------------------------
def test_an_index_job_runs_on_its_own_copy_reports_progress_and_ends_searchable(indexed, tmp_path):
    """What the web upload starts: a thread that ends whether or not a page follows it. Its upload file
    is deleted right after the start (a page gone, its files cleaned up): the job indexes its own copy."""
    import tempfile
    import time

    from assistant.documents import IndexJobs, index_state, records_state
    from assistant.retrieve import get_retriever

    reloaded = []
    jobs = IndexJobs(indexed, after=lambda: reloaded.append(get_retriever(indexed, refresh=True)))
    before = get_retriever(indexed, refresh=True)
    assert index_state(indexed) == records_state(before.generation, before.documents)
    upload = _file(tmp_path, "zorglub.txt", NEW_TEXT)
    staged = set(Path(tempfile.gettempdir()).glob("assistant-job-*"))  # other runs' (none, normally)
    job = jobs.start([(upload, "zorglub.txt")], {"title": "Le dispositif Zorglub"})
    upload.unlink()
    assert job.running and "zorglub.txt" in job.progress
    with pytest.raises(UploadError, match="déjà en cours"):  # one writer of the index at a time
        jobs.start([(_file(tmp_path, "autre.txt", NEW_TEXT + "autre\n"), "autre.txt")])
    assert "en cours" in jobs.busy_message()
    progress = set()
    while (seen := jobs.current()).running:
        progress.add(seen.progress)
        time.sleep(0.05)
    assert seen.state == "done" and seen.kind == "ok" and "ajouté et indexé" in seen.message, seen
    assert seen.finished >= seen.started and jobs.running() is None and jobs.busy_message() is None
    assert any("passages calculés" in p or "phrases" in p for p in progress), progress
    assert len(reloaded) == 1 and "zorglub.txt" in reloaded[0].documents  # searchable once ended
    assert reloaded[0].search("dispositif Zorglub aidants")[0].meta["doc_id"] == "zorglub.txt"
    # what was served before differs from the index now; the reopened retriever is in step with it
    assert index_state(indexed) != records_state(before.generation, before.documents)
    assert index_state(indexed) == records_state(reloaded[0].generation, reloaded[0].documents)
    assert {d["doc_id"] for d in list_documents(indexed, before.documents)} == {ARTICLE, STRATEGY}
    assert "zorglub.txt" in {d["doc_id"] for d in list_documents(indexed)}
    assert set(Path(tempfile.gettempdir()).glob("assistant-job-*")) <= staged  # its copy removed


def test_an_index_job_that_fails_ends_in_french_and_leaves_nothing(indexed, tmp_path):
    from assistant.documents import IndexJobs

    jobs = IndexJobs(indexed)
    with pytest.raises(UploadError, match="non pris en charge"):  # the checks needing no parsing: no job
        jobs.start([(_file(tmp_path, "virus.exe", b"MZ\x90\x00"), "virus.exe")])
    assert jobs.current() is None
    jobs.start([(_file(tmp_path, "casse.pdf", b"%PDF-1.4\n" + b"\x00garbage" * 200), "casse.pdf")])
    ended = jobs.wait(300)
    assert ended.state == "failed" and ended.kind == "error" and "casse.pdf" in ended.message, ended
    assert not (indexed.corpus_dir / "casse.pdf").exists()
    assert {d["doc_id"] for d in list_documents(indexed)} == {ARTICLE, STRATEGY}


def test_the_page_views_are_read_from_the_index_at_each_load(indexed, tmp_path):
    """The web handlers without a browser: a document indexed behind the page's back (another process,
    a job whose page was closed) is in every view at the next page load, and searchable."""
    from app import build

    _, blocks = build(replace(indexed, admin_token="jeton-admin"))
    on_load = next(f.fn for f in blocks.fns.values() if f.name == "on_load")
    table, delete, fix, cards, gloss, filters, status, timer = on_load()
    assert STRATEGY in table and "zorglub" not in table and status == ""
    assert delete["value"] is None and {v for _, v in delete["choices"]} == {ARTICLE, STRATEGY}
    add_document(indexed, _file(tmp_path, "zorglub.txt", NEW_TEXT), "zorglub.txt", {"title": "Le dispositif Zorglub"})
    table, delete, fix, cards, gloss, filters, status, timer = on_load()
    assert "zorglub.txt" in table and "Le dispositif Zorglub" in cards
    assert delete["value"] is None and "zorglub.txt" in {v for _, v in delete["choices"]}
    assert "zorglub.txt" in {v for _, v in fix["choices"]} and "zorglub.txt" in {v for _, v in filters["choices"]}
    labels = [label for label, _ in delete["choices"]]
    assert any(label.endswith("(zorglub.txt) — 1 passage") for label in labels), labels  # not « 1 passages »
    from assistant.retrieve import get_retriever

    assert get_retriever(indexed).search("dispositif Zorglub aidants")[0].meta["doc_id"] == "zorglub.txt"
