"""Faults injected for real: a process killed in the middle of an ingestion."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from assistant.errors import AssistantError, IndexMissingError
from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.store import Store

from .conftest import ANDASS, ARTICLE, GOVERNMENT, SEED_CORPUS, make_settings


def test_ingest_killed_midway_leaves_a_consistent_index_and_the_next_run_finishes(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    first = ingest(settings)
    for name in (GOVERNMENT, ANDASS):  # two long documents: several dozen passages to embed
        shutil.copy(SEED_CORPUS / name, small_corpus / name)
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(small_corpus), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_COLLECTION": settings.collection}
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ingest"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(12)  # imports (~6 s), then embedding of the new documents
    assert proc.poll() is None, "the ingestion ended before it could be killed: give it more to do"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    # Whatever moment it died at, the index opens and only whole documents are served.
    retriever = Retriever(settings)
    assert retriever.search("Pacte des solidarités Strasbourg", k=1)[0].meta["doc_id"] == ARTICLE
    documents = Store(settings).documents(retriever.generation)
    assert set(documents) >= {ARTICLE}
    for result in retriever.search("solidarités départements financement", k=10):
        assert result.chunk_id in documents[result.meta["doc_id"]].chunk_ids

    again = ingest(settings)
    assert again.documents == 4 and not again.errors
    assert again.chunks > first.chunks
    retriever = Retriever(settings)
    hits = retriever.search("ANDASS solidarités par gros temps", k=3)
    assert ANDASS in {h.meta["doc_id"] for h in hits}
    # Nothing left over from the killed run: every stored passage belongs to a document.
    store = Store(settings)
    _, collection = store.open_ready(retriever.embeddings.identity)
    owned = {c for rec in store.documents(retriever.generation).values() for c in rec.chunk_ids}
    assert store.stored_ids(collection) == owned


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
