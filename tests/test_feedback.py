"""Feedback store: real SQLite in WAL mode, redaction, locks, export in the dataset format."""

import io
import json
import sqlite3
import threading
from dataclasses import replace

import pytest

from assistant.answer import answer
from assistant.feedback import FeedbackError, FeedbackStore
from assistant.privacy import EMAIL, NIR, PHONE
from evals.dataset import load, normalize

from .conftest import ANSWERED, SEED_CORPUS


def _add(store, **extra):
    values = dict(rating=1, question="Quel était le montant du fonds ?", answer="135 millions d'euros [1].",
                  citations=[], settings={"llm_backend": "extractive"}, model="extractive")
    values.update(extra)
    return store.add(**values)


def test_store_is_wal_and_rows_survive_a_reopen(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    first = _add(store)
    second = _add(store, rating=-1, comment="incomplet")
    store.update(first, comment="très utile")
    store.close()
    with sqlite3.connect(tmp_path / "fb.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = FeedbackStore(tmp_path / "fb.sqlite3")
    rows = again.list()
    assert [(r.id, r.rating, r.comment) for r in rows] == [(first, 1, "très utile"), (second, -1, "incomplet")]
    assert rows[0].settings == {"llm_backend": "extractive"} and rows[0].model == "extractive"


def test_everything_written_is_redacted(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    fid = _add(store, question="Mme X, NIR 2 85 05 78 006 084 36, a-t-elle droit au RSA ?",
               history=[{"role": "user", "content": "tél 06 12 34 56 78"}],
               citations=[{"n": 1, "text": "contact : a.b@cd44.fr", "source": {"title": "t"}, "sentences": []}])
    store.update(fid, comment="rappeler au 06 12 34 56 78")
    raw = (tmp_path / "fb.sqlite3").read_bytes() + (tmp_path / "fb.sqlite3-wal").read_bytes()
    for secret in (b"006 084 36", b"06 12 34 56 78", b"a.b@cd44.fr"):
        assert secret not in raw
    row = store.list()[0]
    assert NIR in row.question and PHONE in row.history[0]["content"] and EMAIL in row.citations[0]["text"]
    assert PHONE in row.comment


def test_locked_database_retries_then_fails_in_french_and_keeps_rows(tmp_path):
    path = tmp_path / "fb.sqlite3"
    store = FeedbackStore(path, lock_timeout=0.6)
    kept = _add(store)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(FeedbackError, match="occupée"):
            _add(store)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert [r.id for r in store.list()] == [kept]

    # A lock released within the timeout: the write waits and succeeds.
    patient = FeedbackStore(path, lock_timeout=5)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.8, lambda: blocker.execute("ROLLBACK"))
    release.start()
    try:
        later = _add(patient)
    finally:
        release.join()
        blocker.close()
    assert [r.id for r in patient.list()] == [kept, later]


def test_bad_rating_and_unknown_id_are_refused(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    with pytest.raises(FeedbackError):
        _add(store, rating=5)
    with pytest.raises(FeedbackError, match="introuvable"):
        store.update(999, comment="x")


def test_export_is_a_loadable_dataset_with_verbatim_quotes(seed_index, tmp_path):
    settings = replace(seed_index[0], llm_backend="extractive")
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    good = answer(ANSWERED, settings=settings)
    assert not good.refused and good.citations
    d = good.as_dict()
    store.add(rating=1, question=good.question, answer=good.answer, citations=d["citations"], refused=False,
              settings=settings.public(), model=good.backend)
    refused = answer("Donne-moi une recette de crêpes au fromage.", settings=settings)
    assert refused.refused
    store.add(rating=1, question=refused.question, answer=refused.answer, citations=[], refused=True,
              model=refused.backend)
    store.add(rating=-1, question="Et en 2022 ?", answer=good.answer, citations=d["citations"],
              history=[{"role": "user", "content": good.question}, {"role": "assistant", "content": good.answer}])

    out = io.StringIO()
    assert store.export_jsonl(out, SEED_CORPUS) == 3
    path = tmp_path / "avis.jsonl"
    path.write_text(out.getvalue(), encoding="utf-8")
    items = load(path)  # the evaluation dataset's own reader accepts it
    first, second, third = items
    assert first.answerable and first.category == "factual" and "400" in first.reference_answer
    assert first.evidence and "400" in " ".join(first.key_facts)
    for ev in first.evidence:
        text = (SEED_CORPUS / ev["file"]).read_text(encoding="utf-8")
        assert normalize(ev["quote"]) in normalize(text) and 40 <= len(ev["quote"]) <= 250
    assert not second.answerable and second.category == "unanswerable" and second.evidence == []
    assert third.category == "followup" and third.history and third.reference_answer == ""
    raw = json.loads(out.getvalue().splitlines()[2])
    assert raw["feedback"]["rating"] == -1 and raw["feedback"]["to_review"] is True
