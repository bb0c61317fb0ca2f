"""French lexical search: an analyzer (folding, elisions, stemming, numbers) and BM25.

The analyzer folds accents and case, so that OCR damage on accents ("méme", "systémes")
and a question typed without accents meet the same tokens; it strips elisions (l', d',
qu'...), joins digit groups ("6 000" -> 6000) and stems with Snowball's French stemmer.
The BM25 index is derived from the chunks stored in Chroma and cached on disk.
"""

from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|quoiqu)'", re.IGNORECASE)
_DIGIT_GROUPS = re.compile(r"(?<=\d)[ \u00a0\u202f.](?=\d{3}\b)")
_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")

# Short on purpose: words that carry no meaning for matching ("a" covers OCR'd "à").
STOPWORDS = frozenset(
    """a au aux avec ce ces cet cette dans de des du elle en est et eux il ils je la le les leur
    leurs lui ma mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se
    ses son sur ta te tes toi ton tu un une vos votre vous y sont ete etre avoir ont sera
    comme plus tout tous toutes aussi ainsi dont quel quelle quels quelles quoi""".split()
)


APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


def same_spacing(text: str) -> str:
    """Whitespace runs collapsed to one space and apostrophes unified: how a quoted sentence is
    compared with its source file (by the feedback export and by the evaluation sets)."""
    return re.sub(r"\s+", " ", text.translate(APOSTROPHES)).strip()


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("œ", "oe").replace("Œ", "OE"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


_local = threading.local()


def _stemmer():
    # A Snowball stemmer keeps the word being stemmed on itself: one per thread, or concurrent
    # questions in the web app corrupt each other's stems (seen under load as an IndexError).
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.stemmer = snowballstemmer.stemmer("french")
    return stemmer


@lru_cache(maxsize=200_000)
def _stem(token: str) -> str:
    if token[0].isdigit() or len(token) <= 3:
        return token
    return _stemmer().stemWord(token)


def tokenize(text: str) -> list[str]:
    """Folded words, elisions stripped, digit groups joined; stopwords kept."""
    text = _DIGIT_GROUPS.sub("", text)
    text = _ELISION.sub(" ", text.replace("’", "'"))
    return _TOKEN.findall(fold(text))


def analyze(text: str) -> list[str]:
    return [_stem(t) for t in tokenize(text) if t not in STOPWORDS]


class BM25Index:
    """Okapi BM25 over analyzed chunks; `ids` are the chunk ids in Chroma."""

    def __init__(self, ids: list[str], postings: dict[str, tuple[np.ndarray, np.ndarray]],
                 lengths: np.ndarray, k1: float = 1.2, b: float = 0.75):
        self.ids = ids
        self.postings = postings
        self.lengths = lengths
        self.k1, self.b = k1, b
        self.avg = float(lengths.mean()) if len(lengths) else 1.0
        n = len(ids)
        self.idf = {t: math.log(1 + (n - len(d) + 0.5) / (len(d) + 0.5)) for t, (d, _) in postings.items()}
        self._norm = k1 * (1 - b + b * lengths / max(self.avg, 1e-9))

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> "BM25Index":
        acc: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            terms = analyze(text)
            lengths[i] = len(terms)
            for term, tf in Counter(terms).items():
                docs, tfs = acc[term]
                docs.append(i)
                tfs.append(tf)
        postings = {t: (np.asarray(d, dtype=np.int32), np.asarray(f, dtype=np.float32)) for t, (d, f) in acc.items()}
        return cls(list(ids), postings, lengths)

    def search(self, terms: list[str], k: int, weights: dict[str, float] | None = None) -> list[tuple[str, float]]:
        if not self.ids:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float32)
        for term, qtf in Counter(terms).items():
            hit = self.postings.get(term)
            if hit is None:
                continue
            docs, tfs = hit
            w = (weights or {}).get(term, 1.0)
            scores[docs] += w * self.idf[term] * tfs * (self.k1 + 1) / (tfs + self._norm[docs])
        n = min(k, int((scores > 0).sum()))
        if n == 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top]

    # Persistence: plain arrays and JSON, no pickle (the index directory may be shared).
    def save(self, path: Path) -> None:
        terms = sorted(self.postings)
        offsets = np.cumsum([0] + [len(self.postings[t][0]) for t in terms]).astype(np.int64)
        docs = np.concatenate([self.postings[t][0] for t in terms]) if terms else np.zeros(0, np.int32)
        tfs = np.concatenate([self.postings[t][1] for t in terms]) if terms else np.zeros(0, np.float32)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, offsets=offsets, docs=docs, tfs=tfs, lengths=self.lengths)
        tmp.replace(path)
        meta = path.with_suffix(".json")
        meta.with_suffix(".tmp").write_text(json.dumps({"ids": self.ids, "terms": terms}), encoding="utf-8")
        meta.with_suffix(".tmp").replace(meta)

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        arrays = np.load(path)
        offsets, docs, tfs = arrays["offsets"], arrays["docs"], arrays["tfs"]
        postings = {
            t: (docs[offsets[i] : offsets[i + 1]], tfs[offsets[i] : offsets[i + 1]])
            for i, t in enumerate(meta["terms"])
        }
        return cls(meta["ids"], postings, arrays["lengths"])
