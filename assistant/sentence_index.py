"""Sentence vectors: every sentence of every indexed passage, embedded once at ingest.

The answer scorer compares the question with each candidate sentence (features.py); those
vectors are computed here when passages are indexed, never at question time. They live in
the Chroma collection `<name>-sentences`, one record per distinct sentence text, keyed by a
hash of the embedding model and the text: a re-ingest embeds only sentences it has not
seen, and sentences no passage holds any more are deleted.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterable

import numpy as np

from .sentences import split
from .errors import IndexMissingError

BATCH = 64


def sentence_key(text: str, identity: str) -> str:
    return hashlib.sha1(f"{identity}\x00{text}".encode()).hexdigest()[:32]


class SentenceIndex:
    def __init__(self, collection, embeddings):
        self.collection = collection
        self.embeddings = embeddings
        self.identity = embeddings.identity

    @classmethod
    def create(cls, store, embeddings) -> "SentenceIndex":
        col = store.client.get_or_create_collection(
            f"{store.name}-sentences", metadata={"kind": "sentences"}, configuration={"hnsw": {"space": "cosine"}})
        return cls(col, embeddings)

    @classmethod
    def open(cls, store, embeddings) -> "SentenceIndex":
        try:
            col = store.client.get_collection(f"{store.name}-sentences")
        except Exception:
            raise IndexMissingError(
                "L'index a été construit par une version antérieure : il ne contient pas encore les phrases "
                "des passages. Complétez-le avec : assistant ingest") from None
        return cls(col, embeddings)

    def _stored(self) -> set[str]:
        ids, offset = set(), 0
        while True:
            got = self.collection.get(include=[], limit=5000, offset=offset)
            ids.update(got["ids"])
            if len(got["ids"]) < 5000:
                return ids
            offset += 5000

    def sync(self, passages: Iterable[str], progress: Callable[..., None] = lambda *a, **k: None) -> int:
        """Embed the sentences of `passages` not yet stored, delete those no passage holds; returns
        how many were embedded."""
        wanted = {sentence_key(s, self.identity): s for p in passages for s in split(p)}
        stored = self._stored()
        missing = sorted(set(wanted) - stored)
        for i in range(0, len(missing), BATCH):
            ids = missing[i : i + BATCH]
            texts = [wanted[k] for k in ids]
            self.collection.add(ids=ids, documents=texts, embeddings=self.embeddings.embed_documents(texts))
            progress("sentences", count=len(ids), total=len(missing))
        stale = sorted(stored - set(wanted))
        for i in range(0, len(stale), 5000):
            self.collection.delete(ids=stale[i : i + 5000])
        return len(missing)

    def vectors(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Stored vector of each sentence text; an index missing some is an error asking for ingest."""
        keys = {sentence_key(t, self.identity): t for t in dict.fromkeys(texts)}
        got = self.collection.get(ids=list(keys), include=["embeddings"])
        out = {keys[k]: np.asarray(v, dtype=np.float32) for k, v in zip(got["ids"], got["embeddings"])}
        if len(out) < len(keys):
            raise IndexMissingError(
                f"{len(keys) - len(out)} phrase(s) des passages n'ont pas de vecteur dans l'index (index construit "
                "par une version antérieure ou ingestion interrompue). Complétez-le avec : assistant ingest")
        return out
