"""Faults injected for real: a process killed in the middle of an ingestion."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from assistant.errors import AssistantError, IndexMissingError
from assistant.ingest import PAUSE_ENV, ingest
from assistant.retrieve import Retriever
from assistant.store import IndexInconsistentError, Store

from .conftest import ARTICLE, GOVERNMENT, SEED_CORPUS, STRATEGY, make_settings


# Where `assistant ingest` is killed, by the test-only ASSISTANT_TEST_PAUSE_AT hook (assistant/ingest.py):
# the run stops there and waits, whatever the machine's speed. The first new document (STRATEGY) is
# then committed, and of the second (GOVERNMENT, 23 passages, embedded 16 at a time):
KILL_POINTS = {
    "while-embedding": "embedded",  # its first 16 passages are stored, the next ones are being embedded
    "before-commit": "stored",  # all its passages are stored, its registry record is not written
    "after-commit": "advance",  # its record is written, the run is not over (issue #21: left unsearchable)
}


def _ingest_killed_at(settings, event: str, name: str, log_path) -> None:
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
           "ASSISTANT_INDEX_DIR": str(settings.index_dir), "ASSISTANT_COLLECTION": settings.collection,
           "ASSISTANT_EMBEDDINGS_BATCH": "16", PAUSE_ENV: f"{event}:{name}"}
    with open(log_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ingest"], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            said = proc.stdout.readline()  # the hook's line, or "" if the run ended without reaching it
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
    assert said.strip() == f"pause {event} {name}", (said, log_path.read_text()[-2000:])


@pytest.mark.parametrize("point", KILL_POINTS)
def test_ingest_killed_midway_leaves_a_consistent_index_and_the_next_run_finishes(tmp_path, small_corpus, point):
    settings = make_settings(tmp_path, small_corpus)
    (small_corpus / STRATEGY).unlink()
    first = ingest(settings)  # this process holds the collection open from now on, as the web app would
    for name in (STRATEGY, GOVERNMENT):
        shutil.copy(SEED_CORPUS / name, small_corpus / name)
    event = KILL_POINTS[point]
    _ingest_killed_at(settings, event, GOVERNMENT, tmp_path / "ingest.log")

    if event != "advance":
        # Whatever moment it died at, the index opens and only whole documents are served...
        retriever = Retriever(settings)
        assert set(retriever.documents) == {ARTICLE, STRATEGY}
        assert retriever.search("Pacte des solidarités Strasbourg", k=1)[0].meta["doc_id"] == ARTICLE
        for result in retriever.search("solidarités départements financement", k=10):
            assert result.chunk_id in retriever.documents[result.meta["doc_id"]].chunk_ids
        # ...including, to the vector search of this process, what the killed one committed.
        hits = retriever.search("stratégie de prévention et de lutte contre la pauvreté", k=3, mode="dense")
        assert STRATEGY in {h.meta["doc_id"] for h in hits}
    # (After the commit, the resumed run below has nothing to write: it must still leave every
    # passage findable, without a retriever opened first.)

    again = ingest(settings)
    assert again.documents == 3 and not again.errors
    assert again.chunks > first.chunks
    assert again.indexed == (0 if event == "advance" else 1)
    assert (again.embedded > 0) == (event == "embedded")  # only a kill while embedding left passages to do
    retriever = Retriever(settings)
    for mode in ("hybrid", "dense"):
        hits = retriever.search("plein emploi et transition écologique des départements", k=3, mode=mode)
        assert GOVERNMENT in {h.meta["doc_id"] for h in hits}, mode
    # Nothing left over from the killed run: every stored passage belongs to a document, and the
    # vector search of this process can return each one.
    store = Store(settings)
    _, collection = store.open_ready(retriever.embeddings.identity)
    owned = {c for rec in store.documents(retriever.generation).values() for c in rec.chunk_ids}
    assert store.stored_ids(collection) == owned
    assert store.unserved(collection, sorted(owned)) == 0


def test_registry_listing_passages_the_vector_index_lacks_is_refused_in_french(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    store = Store(settings)
    number, collection = store.ready_generation()
    collection.delete(ids=store.documents(number)[ARTICLE].chunk_ids[:1])  # a vector lost behind the registry
    with pytest.raises(IndexInconsistentError, match=r"incohérent : 1 des \d+ passages .* assistant ingest --rebuild"):
        ingest(settings)
    with pytest.raises(IndexInconsistentError, match="assistant ingest --rebuild"):
        Retriever(settings)
    assert ingest(settings, rebuild=True).documents == 2
    assert Retriever(settings).search("Pacte des solidarités Strasbourg", k=1)[0].meta["doc_id"] == ARTICLE


def test_corrupted_index_directory_is_detected_with_a_rebuild_instruction(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    database = settings.index_dir / "chroma" / "chroma.sqlite3"
    database.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AssistantError, match="index/|ingest"):
        Retriever(settings)


def test_foreign_index_directory_is_not_served(tmp_path, small_corpus):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = make_settings(tmp_path, small_corpus)
    client = chromadb.PersistentClient(path=str(settings.index_dir / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    client.create_collection("autre-application").add(ids=["x"], documents=["x"], embeddings=[[0.1] * 384])
    del client
    with pytest.raises(IndexMissingError, match="assistant ingest"):
        Retriever(settings)


def test_full_feedback_store_fails_in_french_and_keeps_what_is_stored(tmp_path):
    from assistant.feedback import FeedbackError, FeedbackStore

    store = FeedbackStore(tmp_path / "avis.sqlite3", lock_timeout=1)
    first = store.add(rating=1, question="Qu'est-ce que le RSA ?", answer="Le revenu de solidarité active [1].")
    conn = store._connect()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
    with pytest.raises(FeedbackError, match="disque plein"):
        for i in range(200):
            store.add(rating=-1, question="Question " + "x" * 2000, answer="y" * 4000, comment=str(i))
    reopened = FeedbackStore(tmp_path / "avis.sqlite3")
    assert first in {row.id for row in reopened.list()}
