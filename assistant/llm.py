"""LLM backends behind one interface (a LangChain chat model), chosen by settings.

- llama (default): the packaged Qwen2.5-Coder-1.5B GGUF, run in-process by llama-cpp-python;
- openai: any OpenAI-compatible chat endpoint (vLLM, Albert API, llama.cpp server, Ollama);
- extractive: no LLM; `get_chat_model` returns None and the answer is built from sentences.
A backend that cannot be loaded raises an AssistantError; the caller falls back to the
extractive answer with a notice.
"""

from __future__ import annotations

import atexit
import threading
from contextlib import contextmanager

from .errors import AssistantError
from .settings import Settings


class LLMUnavailable(AssistantError):
    """No LLM can answer now (not installed, not reachable, crashed)."""


_models: dict[tuple, object] = {}
_lock = threading.Lock()
# llama.cpp contexts are not re-entrant: one generation at a time per loaded model.
generation_lock = threading.Lock()


class ModelBusy(TimeoutError):
    """The model stayed busy with other answers past this caller's time budget."""


@contextmanager
def hold_model(timeout: float):
    """The model for one generation, waiting at most `timeout` seconds behind other users."""
    if not generation_lock.acquire(timeout=max(0.0, timeout)):
        raise ModelBusy(f"occupé plus de {timeout:.0f} s")
    try:
        yield
    finally:
        generation_lock.release()


def identity(settings: Settings) -> str:
    if settings.llm_backend == "llama":
        from .model import MODEL_NAME

        return f"llama-cpp:{MODEL_NAME}"
    if settings.llm_backend == "openai":
        return f"openai:{settings.llm_model or 'default'}@{settings.llm_url}"
    return "extractive"


def _close_all() -> None:
    """Free llama.cpp models before interpreter teardown (its __del__ fails late in shutdown)."""
    for model in list(_models.values()):
        client = getattr(model, "client", None)
        if client is not None and hasattr(client, "close"):
            try:
                client.close()
            except Exception:
                pass
    _models.clear()


atexit.register(_close_all)


def get_chat_model(settings: Settings):
    key = (settings.llm_backend, settings.llm_url, settings.llm_model, str(settings.models_dir),
           settings.llm_threads, settings.llm_ctx, settings.llm_max_tokens)
    if settings.llm_backend == "extractive":
        return None
    with _lock:
        if key not in _models:
            _models[key] = _load(settings)
        return _models[key]


def _load(settings: Settings):
    if settings.llm_backend == "openai":
        if not settings.llm_url:
            raise LLMUnavailable("ASSISTANT_LLM_URL est vide : indiquez l'adresse du service compatible OpenAI.")
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.llm_url,
            model=settings.llm_model or "default",
            api_key=settings.llm_api_key or "not-needed",
            temperature=0.0,
            max_tokens=settings.llm_max_tokens,
            timeout=settings.llm_timeout,
            max_retries=1,
        )
    from .model import MODEL_FILE, assemble

    try:
        path = assemble(settings.models_dir)  # verifies the sha256 (builds the file if parts are installed)
    except AssistantError as exc:
        raise LLMUnavailable(str(exc)) from exc
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as exc:
        raise LLMUnavailable("llama-cpp-python n'est pas installé : relancez scripts/setup.") from exc
    try:
        return ChatLlamaCpp(
            model_path=str(path),
            n_ctx=settings.llm_ctx,
            n_threads=settings.llm_threads,
            n_batch=512,
            temperature=0.0,
            max_tokens=settings.llm_max_tokens,
            verbose=False,
        )
    except Exception as exc:
        raise LLMUnavailable(f"Le modèle local {MODEL_FILE} n'a pas pu être chargé ({type(exc).__name__}).") from exc
