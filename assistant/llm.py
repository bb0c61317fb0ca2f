"""LLM backends behind one interface (a LangChain chat model), registered by name (backends.py).

- llama (default): the packaged Qwen2.5-Coder-1.5B GGUF, run in-process by llama-cpp-python;
- openai: any OpenAI-compatible chat endpoint (vLLM, Albert API, llama.cpp server, Ollama);
- extractive: no LLM; `get_chat_model` returns None and the answer is built from sentences.
Each backend is built from the llm part of the settings and says its `identity` (recorded with
answers and in the eval cache key) and how to `load` its model. A backend that cannot be loaded
raises an AssistantError; the caller falls back to the extractive answer with a notice.
"""

from __future__ import annotations

import atexit
import math
import threading
from contextlib import contextmanager

from .backends import create, register
from .errors import AssistantError
from .settings import Part, Settings, part_of


class LLMUnavailable(AssistantError):
    """No LLM can answer now (not installed, not reachable, crashed)."""


_models: dict[Part, object] = {}
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


# Registered in this order: the order in which the settings list them (the first is the default).
@register("llm", "llama")
class Llama:
    """The packaged GGUF, assembled and verified in the models directory, run in-process."""

    generates = True

    def __init__(self, part: Part):
        self.part = part

    @property
    def identity(self) -> str:
        from .model import MODEL_NAME

        return f"llama-cpp:{MODEL_NAME}"

    @property
    def weights_sha256(self) -> str:
        """The packaged weights' checksum, recorded with each evaluation."""
        from .model import MODEL_SHA256

        return MODEL_SHA256

    def load(self):
        from .model import MODEL_FILE, assemble

        part = self.part
        try:
            path = assemble(part.models_dir)  # verifies the sha256 (builds the file if parts are installed)
        except AssistantError as exc:
            raise LLMUnavailable(str(exc)) from exc
        try:
            from langchain_community.chat_models import ChatLlamaCpp
        except ImportError as exc:
            raise LLMUnavailable("llama-cpp-python n'est pas installé : relancez scripts/setup.") from exc
        try:
            return ChatLlamaCpp(
                model_path=str(path),
                n_ctx=part.llm_ctx,
                n_threads=part.llm_threads,
                n_batch=512,
                temperature=0.0,
                max_tokens=part.llm_max_tokens,
                verbose=False,
            )
        except Exception as exc:
            raise LLMUnavailable(
                f"Le modèle local {MODEL_FILE} n'a pas pu être chargé ({type(exc).__name__}).") from exc

    def yes_probability(self, model, system: str, user: str) -> float:
        """P(« oui ») against « non » as the first token of the reply, read from the logits of one
        forward pass over the prompt (no sampling, nothing generated)."""
        import numpy as np
        from llama_cpp.llama_chat_format import format_chatml  # the packaged Qwen model's template

        client = model.client
        prompt = format_chatml(messages=[{"role": "system", "content": system},
                                         {"role": "user", "content": user}]).prompt
        client.reset()
        client.eval(client.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
        # Without logits_all, llama.cpp keeps only the last position's logits and llama-cpp-python 0.3.36
        # (the pinned version) no longer copies them: read them from the context.
        logits = np.ctypeslib.as_array(client._ctx.get_logits(), shape=(client.n_vocab(),)).astype(np.float64)
        yes, no = _answer_tokens(client)
        top = logits[yes + no].max()
        weight = np.exp(logits[yes + no] - top)
        return float(weight[: len(yes)].sum() / weight.sum())


def _answer_tokens(client) -> tuple[list[int], list[int]]:
    """First tokens of « oui » and « non » as the model may write them (OUI starts with « O »)."""
    first = lambda word: client.tokenize(word.encode("utf-8"), add_bos=False, special=False)[0]  # noqa: E731
    yes = {first(w) for w in ("oui", "Oui", "OUI")}
    no = {first(w) for w in ("non", "Non", "NON")}
    return sorted(yes - no), sorted(no - yes)


@register("llm", "openai")
class OpenAIChat:
    """Any OpenAI-compatible chat endpoint."""

    generates = True

    def __init__(self, part: Part):
        self.part = part

    @property
    def identity(self) -> str:
        return f"openai:{self.part.llm_model or 'default'}@{self.part.llm_url}"

    weights_sha256 = ""  # served elsewhere: not known here

    def load(self):
        part = self.part
        if not part.llm_url:
            raise LLMUnavailable("ASSISTANT_LLM_URL est vide : indiquez l'adresse du service compatible OpenAI.")
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=part.llm_url,
            model=part.llm_model or "default",
            api_key=part.llm_api_key or "not-needed",
            temperature=0.0,
            max_tokens=part.llm_max_tokens,
            timeout=part.llm_timeout,
            max_retries=1,
        )

    def yes_probability(self, model, system: str, user: str) -> float:
        """P(« oui ») against « non » from the first token's log-probabilities the endpoint returns."""
        reply = model.bind(logprobs=True, top_logprobs=10, max_tokens=1).invoke([("system", system), ("human", user)])
        content = (reply.response_metadata.get("logprobs") or {}).get("content") or [{}]
        mass = {"yes": 0.0, "no": 0.0}
        for candidate in content[0].get("top_logprobs") or []:
            word = candidate["token"].strip().lower()
            side = "yes" if word in ("oui", "o") else "no" if word == "non" else None  # « O » opens « Oui »
            if side:
                mass[side] += math.exp(candidate["logprob"])
        if mass["yes"] + mass["no"] == 0:
            raise LLMUnavailable("Le service de modèle de langage ne renvoie pas les probabilités des mots "
                                 "(logprobs) : la confirmation ne peut pas être lue.")
        return mass["yes"] / (mass["yes"] + mass["no"])


@register("llm", "extractive")
class NoLLM:
    """No model: the answer is the chosen sentences themselves."""

    generates = False
    identity = "extractive"
    weights_sha256 = ""

    def __init__(self, part: Part):
        self.part = part

    def load(self):
        return None


def backend(settings: Settings | Part):
    """The configured LLM backend (cheap: nothing is loaded until `get_chat_model`)."""
    return create("llm", part_of(settings, "llm"))


def identity(settings: Settings | Part) -> str:
    return backend(settings).identity


def generates(settings: Settings | Part) -> bool:
    """Whether the configured backend has a model that writes (the extractive one has none)."""
    return backend(settings).generates


def get_chat_model(settings: Settings | Part):
    """The chat model, loaded once per process and llm part; None for the extractive backend."""
    part = part_of(settings, "llm")
    chosen = create("llm", part)
    if not chosen.generates:
        return None  # nothing to load, nor to wait for behind another model's loading
    with _lock:
        if part not in _models:
            _models[part] = chosen.load()
        return _models[part]
