"""Shared fixtures: real corpus files, real Chroma in a temporary directory, real models."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import assistant  # noqa: F401  (applies the offline switches)
from assistant.settings import PROJECT_DIR, Settings

SEED_CORPUS = PROJECT_DIR / "corpus"
DEV_SET = PROJECT_DIR / "evals" / "datasets" / "dev.jsonl"
HELDOUT_SET = PROJECT_DIR / "evals" / "datasets" / "heldout.jsonl"
HELDOUT2_SET = PROJECT_DIR / "evals" / "datasets" / "heldout2.jsonl"
HELDOUT3_SET = PROJECT_DIR / "evals" / "datasets" / "heldout3.jsonl"
ARTICLE = "2023-11-13_article_departements-pacte-des-solidarites.txt"
GOVERNMENT = "2023-11-10_gouvernement_etat-departements-actions-ambitions.txt"
ANDASS = "2024-10-15_andass_solidarites-par-gros-temps.txt"
BROCHURE = "2021_gauche-adf_changer-la-vie-des-territoires.txt"
STRATEGY = "2019_strategie-pauvrete_relation-renouvelee-departements.txt"
# A question the documents answer plainly (the 2021 brochure: « près de 400 allocataires du RSA »),
# worded unlike any training question, which the saved scorer answers with a margin.
ANSWERED = "Combien d'allocataires du RSA travaillent chaque année dans les chantiers d'insertion de l'Aude ?"


def make_settings(tmp: Path, corpus: Path, **overrides) -> Settings:
    values = dict(corpus_dir=corpus, index_dir=tmp / "index", collection="test")
    values.update(overrides)
    settings = Settings(**values)
    settings.validate()
    return settings


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Two short seed documents and the manifest, in a corpus of its own."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (ARTICLE, STRATEGY, "manifest.toml"):
        shutil.copy(SEED_CORPUS / name, corpus / name)
    return corpus


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory):
    """The full seed corpus indexed once for the session (about 40 s on 2 cores)."""
    from assistant.ingest import ingest

    tmp = tmp_path_factory.mktemp("seed")
    settings = make_settings(tmp, SEED_CORPUS)
    report = ingest(settings)
    assert not report.errors, report.errors
    return settings, report


@pytest.fixture(scope="session")
def seed_retriever(seed_index):
    from assistant.retrieve import Retriever

    return Retriever(seed_index[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float) -> None:
    """Until a server started by a test accepts connections on loopback (or fails)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the server exited at start (code {proc.returncode})")
            time.sleep(0.3)
    pytest.fail(f"no server on port {port} after {seconds} s")


# ----- the fast tier: `pytest -m "not slow"` (pure logic, settings, features; under 2 minutes) ------
# A test is slow when it needs a built index, a model, a server, a browser or a converter. The
# default run (scripts/test) still runs everything.
SLOW_FIXTURES = {"seed_index", "seed_retriever", "small_corpus", "built", "indexed", "drive", "mixed_scan",
                 "chroma_server", "embeddings_server", "judge_server", "llama_server", "app", "browser", "point"}
SLOW_MODULES = {"test_web", "test_formats", "test_ocr", "test_embeddings", "test_faults", "test_chroma_server",
                "test_llm_server", "test_eval_judge", "test_folder", "test_ingest", "test_load", "test_cli"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        if module in SLOW_MODULES or SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
