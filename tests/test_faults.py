"""Faults injected for real: a process killed in the middle of an ingestion."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

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
