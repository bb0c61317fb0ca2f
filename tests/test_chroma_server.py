"""Scale-out by configuration: a real Chroma server on loopback shared by several processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.errors import AssistantError
from assistant.ingest import ingest
from assistant.retrieve import Retriever

from .conftest import ARTICLE, make_settings, free_port, wait_for_port

CHROMA = Path(sys.executable).with_name("chroma")


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    wait_for_port(port, proc, 60)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    proc = start_chroma(tmp_path / "chroma-server", port)
    yield port, tmp_path / "chroma-server"
    stop(proc)


def test_ingest_and_search_through_a_chroma_server(tmp_path, small_corpus, chroma_server):
    port, data = chroma_server
    settings = make_settings(tmp_path, small_corpus, chroma_mode="http", chroma_port=port)
    report = ingest(settings)
    assert report.documents == 2 and not report.errors
    assert not (tmp_path / "index" / "chroma").exists()  # vectors live in the server, not here
    assert data.exists()
    hits = Retriever(settings).search("Pacte des solidarités Strasbourg", k=3)
    assert hits[0].meta["doc_id"] == ARTICLE

    # Another process (another app worker) with its own local cache directory reads the same index.
    env = {**os.environ, "ASSISTANT_CHROMA_MODE": "http", "ASSISTANT_CHROMA_PORT": str(port),
           "ASSISTANT_COLLECTION": "test", "ASSISTANT_CORPUS_DIR": str(small_corpus),
           "ASSISTANT_INDEX_DIR": str(tmp_path / "worker2")}
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "search", "--json", "Pacte des solidarités Strasbourg"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert results[0]["source"]["doc_id"] == ARTICLE
    assert results[0]["text"] == hits[0].text


def test_server_down_gives_a_clear_error_and_recovery_when_it_returns(tmp_path, small_corpus):
    port = free_port()
    settings = make_settings(tmp_path, small_corpus, chroma_mode="http", chroma_port=port)
    with pytest.raises(AssistantError, match="serveur Chroma.*ne répond pas"):
        ingest(settings)
    proc = start_chroma(tmp_path / "chroma-server", port)
    try:
        ingest(settings)
        retriever = Retriever(settings)
        assert retriever.search("Pacte des solidarités", k=1)
    finally:
        stop(proc)
    # The server goes away under an opened retriever: a French error, not a stack trace.
    with pytest.raises(AssistantError, match="serveur Chroma"):
        retriever.search("contractualisation avec les Départements", k=1, mode="dense")
    proc = start_chroma(tmp_path / "chroma-server", port)
    try:
        assert retriever.search("contractualisation avec les Départements", k=1, mode="dense")
    finally:
        stop(proc)
