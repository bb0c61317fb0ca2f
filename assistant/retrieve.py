"""Retrieve: hybrid search (dense + French BM25, reciprocal rank fusion), near-duplicates folded.

Only chunks that their document's registry record lists are ever returned (see store.py).
The BM25 index and the glossary are derived from the stored chunks and cached on disk,
keyed by the generation and the documents' hashes, so they are rebuilt only on change.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field

from .errors import QuestionError
from .glossary import Entry, Glossary, extract
from .lexical import BM25Index, analyze, fold
from .sentence_index import SentenceIndex
from .settings import Part, Settings
from .store import Store, inconsistent, server_call

log = logging.getLogger(__name__)

# Bump when the analyzer or glossary extraction changes, so cached copies are rebuilt.
DERIVED_VERSION = 3
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@dataclass
class Result:
    rank: int
    score: float
    chunk_id: str
    text: str
    meta: dict
    dense: float | None = None  # cosine similarity to the question, when dense ran
    lexical: float | None = None  # BM25 score, when lexical matched
    also_in: list[str] = field(default_factory=list)  # chunk ids of the same passage in other documents
    catalog: dict = field(default_factory=dict, repr=False)
    dense_rank: int | None = None  # 1-based rank in the dense list (diagnostics: search --explain)
    lexical_rank: int | None = None

    def source(self, meta: dict | None = None) -> dict:
        m = meta or self.meta
        return {
            "doc_id": m["doc_id"],
            "title": m["title"],
            "publisher": m["publisher"],
            "date": m["date"],
            "path": m["doc_id"],
            "section": m["section"],
            "start_line": m["start_line"],
            "end_line": m["end_line"],
            **({"page": m["page"]} if m.get("page", -1) >= 0 else {}),
            # Spreadsheet rows, OCR'd pages and slides say where they are (docs/documents.md).
            **({"where": m["where"]} if m.get("where") else {}),
            **({"sheet": m["sheet"], "rows": [m["row_first"], m["row_last"]]} if m.get("sheet") else {}),
            **({"ocr_confidence": m["ocr_confidence"]} if m.get("ocr") else {}),
        }

    def as_dict(self) -> dict:
        out = {"rank": self.rank, "score": round(self.score, 5), "text": self.text, "source": self.source()}
        if self.also_in:
            out["also_in"] = [self.source(self.catalog[cid]) for cid in self.also_in]
        return out


def clean_question(question: str, max_chars: int) -> str:
    if not isinstance(question, str):
        raise QuestionError("La question doit être un texte.")
    question = _CONTROL.sub(" ", question).strip()
    if not question:
        raise QuestionError("La question est vide : écrivez votre question en quelques mots.")
    if len(question) > max_chars:
        raise QuestionError(
            f"La question est trop longue ({len(question)} caractères, maximum {max_chars}). "
            "Posez une question courte ; ne collez pas de document entier."
        )
    if not any(c.isalnum() for c in question):
        raise QuestionError("La question ne contient ni lettre ni chiffre : reformulez-la.")
    return question


_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _bound(date: str, template: str) -> str:
    """A full YYYY-MM-DD bound from a year, month or day (2021 -> 2021-01-01 or 2021-12-31)."""
    return date + template[len(date):]


@dataclass(frozen=True)
class Filter:
    """What a search may return: some documents (file path or words of the title), a date range of
    the documents (YYYY, YYYY-MM or YYYY-MM-DD, both ends included)."""

    documents: tuple[str, ...] = ()
    since: str = ""
    until: str = ""

    def __bool__(self) -> bool:
        return bool(self.documents or self.since or self.until)

    def as_dict(self) -> dict:
        """The filter as stored (the answer log): {} when nothing is filtered."""
        return {"documents": list(self.documents), "since": self.since, "until": self.until} if self else {}

    @classmethod
    def from_dict(cls, stored: dict | None) -> "Filter | None":
        """The filter `as_dict` stored; None when nothing was filtered (as the chat and the CLI pass it)."""
        got = cls(tuple((stored or {}).get("documents", ())), (stored or {}).get("since", ""),
                  (stored or {}).get("until", ""))
        return got or None

    def matching(self, catalog: dict[str, dict]) -> set[str]:
        """The doc ids the filter keeps, or a French error naming what cannot match."""
        docs: dict[str, dict] = {}
        for meta in catalog.values():
            docs.setdefault(meta["doc_id"], meta)
        for label, value in (("« depuis »", self.since), ("« jusqu'au »", self.until)):  # --since, --until
            if value and not _DATE.match(value):
                raise QuestionError(f"Date {label} « {value} » invalide : écrivez AAAA, AAAA-MM ou AAAA-MM-JJ.")
        low, high = _bound(self.since, "0000-01-01"), _bound(self.until, "9999-12-31")
        if self.since and self.until and low > high:
            raise QuestionError(f"Période impossible : du {self.since} au {self.until}, le début est après la fin.")
        keep = set(docs)
        if self.documents:
            wanted = set()
            for name in self.documents:
                words = fold(name).split()
                got = {d for d, m in docs.items() if d == name or words and all(
                    w in fold(f"{m['title']} {d}") for w in words)}
                if not got:
                    raise QuestionError(f"Aucun document indexé ne correspond à « {name} ». Documents : "
                                        + " ; ".join(sorted(m["title"] or d for d, m in docs.items())[:20]))
                wanted |= got
            keep &= wanted
        if self.since or self.until:
            keep = {d for d in keep if docs[d].get("date") and _DATE.match(docs[d]["date"])
                    and _bound(docs[d]["date"], "9999-12-31") >= low and _bound(docs[d]["date"], "0000-01-01") <= high}
            if not keep:
                raise QuestionError(f"Aucun document indexé n'est daté de cette période ({self.since or '…'} – "
                                    f"{self.until or '…'}).")
        return keep


def _shingles(text: str, n: int = 5) -> set[int]:
    words = re.findall(r"\w+", fold(text))
    return {hash(" ".join(words[i : i + n])) for i in range(max(1, len(words) - n + 1))}


def _containment(a: set[int], b: set[int]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


@dataclass(frozen=True)
class RetrieverSettings:
    """What an opened index is built from, and the key of its cache: the embedder's and the store's
    parts of the index group, and the retrieval group (`Settings.part`)."""

    embeddings: Part
    store: Part
    retrieval: Part

    @classmethod
    def of(cls, settings: "Settings | RetrieverSettings") -> "RetrieverSettings":
        if isinstance(settings, cls):
            return settings
        return cls(settings.part("embeddings"), settings.part("store"), settings.part("retrieval"))


class Retriever:
    """Opened index: load once per process, then `search` many times (thread-safe)."""

    def __init__(self, settings: Settings | RetrieverSettings):
        from langchain_chroma import Chroma

        from .embed import get_embeddings

        self.config = RetrieverSettings.of(settings)
        self.embeddings = get_embeddings(self.config.embeddings)
        self.store = Store(self.config.store)
        self.generation, self.collection = self.store.open_ready(self.embeddings.identity)
        self.documents = self.store.documents(self.generation)
        self.owned = {cid for rec in self.documents.values() for cid in rec.chunk_ids}
        # Every listed passage must be findable: a client of this process opened before another
        # process stored passages does not serve their vectors, and is reopened.
        self.collection, missing = self.store.serving(self.collection, sorted(self.owned))
        if missing:
            raise inconsistent(missing, len(self.owned))
        self.vectors = Chroma(client=self.store.client, collection_name=self.collection.name,
                              embedding_function=self.embeddings)
        self.catalog = self.store.get_chunks(self.collection, sorted(self.owned))
        self._shingle_cache: dict[str, set[int]] = {}
        # The answer path asks for the same question's vector twice (search, then relevance).
        self._embed_query = functools.lru_cache(maxsize=256)(lambda text: tuple(self.embeddings.embed_query(text)))
        self._lock = threading.Lock()
        self.lexical, self.glossary_entries = self._derived()
        self.glossary = Glossary(self.glossary_entries)

    # ----- derived, cached structures ----------------------------------------------
    def _fingerprint(self) -> str:
        items = sorted((d, r.doc_hash, len(r.chunk_ids)) for d, r in self.documents.items())
        raw = json.dumps([DERIVED_VERSION, self.collection.name, items]).encode()
        return hashlib.sha256(raw).hexdigest()[:16]

    def _derived(self) -> tuple[BM25Index, dict[str, Entry]]:
        cache = self.config.store.index_dir / "lexical"
        cache.mkdir(parents=True, exist_ok=True)
        stem = f"{self.config.store.collection}-{self._fingerprint()}"
        bm25_path, glossary_path = cache / f"{stem}.npz", cache / f"{stem}.glossary.json"
        ids = sorted(self.catalog)
        try:
            bm25 = BM25Index.load(bm25_path)
            raw = json.loads(glossary_path.read_text(encoding="utf-8"))
            entries = {a: Entry(**{**e, "documents": set(e["documents"])}) for a, e in raw.items()}
            if set(bm25.ids) == set(ids):
                return bm25, entries
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or stale cache: rebuild below
        started = time.perf_counter()
        bm25 = BM25Index.build(ids, [self.catalog[i]["indexed"] for i in ids])  # headings included
        entries = extract([(i, self.catalog[i]["doc_id"], self.catalog[i]["search"]) for i in ids])
        for old in cache.glob(f"{self.config.store.collection}-*"):
            old.unlink(missing_ok=True)
        bm25.save(bm25_path)
        glossary_path.write_text(
            json.dumps({a: {**e.__dict__, "documents": sorted(e.documents)} for a, e in entries.items()},
                       ensure_ascii=False), encoding="utf-8")
        log.info("lexical index built in %.2fs", time.perf_counter() - started)
        return bm25, entries

    # ----- vectors for the answer scorer ---------------------------------------------------
    @functools.cached_property
    def sentences(self) -> SentenceIndex:
        return SentenceIndex.open(self.store, self.embeddings)

    def sentence_vectors(self, texts: list[str]) -> dict:
        """Vectors of passage sentences, computed at ingest (an index without them is an error)."""
        return server_call(self.config.store, self.sentences.vectors, texts)

    def query_vector(self, query: str):
        """The question's vector, the same (cached) one the dense search used."""
        import numpy as np

        return np.asarray(self._embed_query(self.glossary.expand_question(query)), dtype=np.float32)

    # ----- search --------------------------------------------------------------------
    def dense(self, query: str, k: int, docs: set[str] | None = None) -> list[tuple[str, float]]:
        vec = list(self._embed_query(self.glossary.expand_question(query)))
        where = {"filter": {"doc_id": {"$in": sorted(docs)}}} if docs is not None else {}
        hits = server_call(self.config.store, self.vectors.similarity_search_by_vector_with_relevance_scores, vec,
                           k=k + 10, **where)
        out = []
        for doc, distance in hits:
            if doc.id in self.owned:
                out.append((doc.id, 1.0 - float(distance)))
        return out[:k]

    def _query_terms(self, query: str) -> tuple[list[str], dict[str, float]]:
        """The stems BM25 searches for: the query's, then the glossary's expansions (with their weights)."""
        terms = analyze(query)
        extra, weights = self.glossary.expand_terms(query, terms)
        return terms + extra, weights

    def matched_terms(self, question: str, chunk_id: str) -> list[str]:
        """The stems searched for `question` that the passage's indexed text holds."""
        held = set(analyze(self.catalog[chunk_id]["indexed"]))
        return sorted({t for t in self._query_terms(question)[0] if t in held})

    def lexical_search(self, query: str, k: int, context: str = "") -> list[tuple[str, float]]:
        terms, weights = self._query_terms(query)
        if context:  # earlier turns help a follow-up, at half weight
            earlier = [t for t in analyze(context) if t not in terms]
            weights.update({t: 0.5 for t in earlier})
            terms += earlier
        return self.lexical.search(terms, k, weights)

    def unindexed(self, terms) -> set[str]:
        """The stems among `terms` that no indexed passage contains."""
        return {t for t in terms if t not in self.lexical.postings}

    @functools.cached_property
    def _surface(self) -> tuple[frozenset, tuple]:
        """Every word of the indexed passages, and (sorted, for prefix lookups) those written with a
        capital; accents folded."""
        words, capitalised = set(), set()
        for chunk in self.catalog.values():
            for word in re.findall(r"[^\W\d_]+", chunk["display"] + " " + chunk.get("title", "")):
                words.add(fold(word))
                if word[0].isupper():
                    capitalised.add(fold(word))
        return frozenset(words), tuple(sorted(capitalised))

    def unknown_words(self, words) -> list[str]:
        """The words (names) that no indexed passage writes, not even as the start of a capitalised
        word (an abbreviation such as « Sécu »); « Creuse » is unknown though « creusent » is there."""
        known, capitalised = self._surface

        def is_known(part: str) -> bool:
            at = bisect.bisect_left(capitalised, part)
            return part in known or (at < len(capitalised) and capitalised[at].startswith(part))

        return [w for w in words if not all(is_known(fold(p)) for p in re.findall(r"[^\W\d_]+", w))]

    def _shingles_of(self, chunk_id: str) -> set[int]:
        got = self._shingle_cache.get(chunk_id)
        if got is None:
            got = self._shingle_cache[chunk_id] = _shingles(self.catalog[chunk_id]["search"])
        return got

    def search(self, question: str, k: int | None = None, mode: str | None = None,
               history: list[dict] | None = None, filters: Filter | None = None) -> list[Result]:
        config = self.config.retrieval
        question = clean_question(question, config.max_question_chars)
        k = k or config.top_k
        mode = mode or config.retrieval_mode
        n = max(config.candidates, 3 * k)
        docs = filters.matching(self.catalog) if filters else None
        context = " ".join(t.get("content", "") for t in (history or [])[-4:]
                           if isinstance(t, dict) and t.get("role") == "user")
        dense_hits: list[tuple[str, float]] = []
        lexical_hits: list[tuple[str, float]] = []
        if mode in ("hybrid", "dense"):
            # Measured against a separate, weighted query for the earlier turns (dev follow-ups: hit@1
            # 0.75 this way, 0.50 at equal weight, 0.38 at half): the subject is kept in one query.
            dense_hits = self.dense(f"{context} {question}".strip() if context else question, n, docs)
        if mode in ("hybrid", "lexical"):
            lexical_hits = self.lexical_search(question, len(self.catalog) if docs is not None else n, context)
            if docs is not None:  # BM25 scores every passage anyway: keep the allowed ones
                lexical_hits = [h for h in lexical_hits if self.catalog[h[0]]["doc_id"] in docs][:n]
        # chunk id -> (1-based rank, score) in each list: fused below, and shown by search --explain
        dense_at = {cid: (rank, score) for rank, (cid, score) in enumerate(dense_hits, 1)}
        lexical_at = {cid: (rank, score) for rank, (cid, score) in enumerate(lexical_hits, 1)}
        fused: dict[str, float] = {}
        for weight, ranked in ((config.dense_weight, dense_at), (1.0, lexical_at)):
            for cid, (rank, _) in ranked.items():
                fused[cid] = fused.get(cid, 0.0) + weight / (config.rrf_k + rank)
        ordered = sorted(fused.items(), key=lambda kv: -kv[1])
        none = (None, None)

        results: list[Result] = []
        for cid, score in ordered:
            meta = self.catalog[cid]
            duplicate = next((r for r in results if _containment(self._shingles_of(cid), self._shingles_of(r.chunk_id))
                              >= config.dedup_threshold), None)
            if duplicate is not None:
                if meta["doc_id"] != duplicate.meta["doc_id"] and all(
                        self.catalog[a]["doc_id"] != meta["doc_id"] for a in duplicate.also_in):
                    duplicate.also_in.append(cid)
                continue
            if len(results) < k:
                (d_rank, d_score), (l_rank, l_score) = dense_at.get(cid, none), lexical_at.get(cid, none)
                results.append(Result(len(results) + 1, score, cid, meta["display"], meta, d_score, l_score,
                                      catalog=self.catalog, dense_rank=d_rank, lexical_rank=l_rank))
        return results

    def document_count(self) -> int:
        return len(self.documents)


_retrievers: dict[RetrieverSettings, Retriever] = {}
_retrievers_lock = threading.Lock()


def get_retriever(settings: Settings | RetrieverSettings, refresh: bool = False) -> Retriever:
    """One opened index per process and RetrieverSettings (the model is loaded once): `search` reads
    top_k, rrf_k, dense_weight and the mode from the retrieval part it was opened with, so settings
    that differ there get their own retriever, and settings that differ elsewhere share one."""
    key = RetrieverSettings.of(settings)
    with _retrievers_lock:
        if refresh or key not in _retrievers:
            _retrievers[key] = Retriever(key)
        return _retrievers[key]
