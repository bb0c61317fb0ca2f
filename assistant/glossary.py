"""Acronyms of the corpus with their expansions, extracted from the corpus itself.

Two patterns are read: "revenu de solidarité active (RSA)" and "RSA (revenu de
solidarité active)". The expansion is the shortest run of words before (or inside) the
parentheses whose letters spell the acronym in order, starting on its first letter.
Acronyms used but never spelled out are listed too, with no expansion, so a reader can
be told that the corpus does not define them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .lexical import analyze, fold, tokenize

_AFTER = re.compile(r"([^()\n]{3,160}?)\s*\(\s*([A-Z][A-Za-z0-9\-]{1,11}?)\s*\)")
_BEFORE = re.compile(r"\b([A-Z][A-Z0-9]{1,9}[a-z]?)\s*\(\s*([^()\n]{5,120}?)\s*\)")
_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9]{1,9})s?\b")
_MINOR = {"de", "du", "des", "la", "le", "les", "l", "d", "et", "a", "au", "aux", "en", "pour", "sur", "par", "dans"}
# Capitalised words that are not acronyms in these texts.
_NOT_ACRONYMS = {"LA", "LE", "LES", "DE", "DES", "DU", "ET", "EN", "UN", "UNE", "AU", "AUX", "POUR", "PAR", "SUR",
                 "II", "III", "IV", "VI", "VII", "VIII", "IX", "XI", "XII", "XX", "XXI", "NB", "OK"}


@dataclass
class Entry:
    acronym: str
    expansion: str = ""
    doc_id: str = ""
    chunk_id: str = ""
    passage: str = ""
    uses: int = 0
    documents: set = field(default_factory=set)


def _spells(acronym: str, words: list[str]) -> bool:
    """Do the words' letters spell the acronym in order, the first on word one's initial?"""
    letters = [c for c in fold(acronym) if c.isalnum()]
    content = [fold(w) for w in words]
    if not content or not letters or not content[0] or content[0][0] != letters[0]:
        return False
    if fold(words[-1]) in _MINOR:
        return False
    text = " ".join(content)
    pos = 0
    for ch in letters:
        pos = text.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    initials = [w[0] for w in content if w and w not in _MINOR]
    # Most letters should be word initials, not letters buried inside words.
    return sum(1 for c in letters if c in initials) >= max(1, len(letters) - 1)


def _expansion_before(acronym: str, preceding: str) -> str:
    words = re.findall(r"[\wÀ-ÿ'’\-]+", preceding)
    limit = min(len(words), len(acronym) + 5)
    for n in range(1, limit + 1):
        cand = list(words[-n:])
        # "l'aide sociale à l'enfance": the article is not part of the name.
        cand[0] = re.sub(r"^(?:l|d|qu)['’]", "", cand[0], flags=re.IGNORECASE)
        if not cand[0] or fold(cand[0]) in _MINOR:
            continue
        # Split hyphenated words and elisions into their parts for spelling.
        parts = [p for w in cand for p in re.split(r"['’\-]", w) if p]
        if len(parts) >= len([c for c in acronym if c.isupper()]) - 1 and _spells(acronym, parts):
            return " ".join(cand)
    return ""


def extract(chunks: list[tuple[str, str, str]]) -> dict[str, Entry]:
    """chunks: (chunk_id, doc_id, text). Returns entries keyed by acronym."""
    entries: dict[str, Entry] = {}
    uses: Counter = Counter()
    docs: dict[str, set] = {}
    for chunk_id, doc_id, text in chunks:
        for m in _ACRONYM.finditer(text):
            acr = m.group(1)
            if acr in _NOT_ACRONYMS or acr.isdigit() or not re.search(r"[A-Z]{2}", acr):
                continue
            uses[acr] += 1
            docs.setdefault(acr, set()).add(doc_id)
        for m in _AFTER.finditer(text):
            acr = m.group(2)
            exp = _expansion_before(acr, m.group(1))
            if exp and acr not in entries:
                entries[acr] = Entry(acr, exp, doc_id, chunk_id, _sentence_around(text, m.start(2)))
        for m in _BEFORE.finditer(text):
            acr, inner = m.group(1), m.group(2)
            words = re.findall(r"[\wÀ-ÿ'’\-]+", inner)
            parts = [p for w in words for p in re.split(r"['’\-]", w) if p]
            if acr not in entries and acr not in _NOT_ACRONYMS and _spells(acr, parts):
                entries[acr] = Entry(acr, inner.strip(), doc_id, chunk_id, _sentence_around(text, m.start(1)))
    _spelled_elsewhere(entries, uses, chunks)
    # A word printed in capitals ("CONFIANCE") also appears in lower case: not an acronym.
    lower_words = {w for _, _, text in chunks for w in re.findall(r"\b[a-zà-ÿ]{2,}\b", text)}
    for acr, n in uses.items():
        if acr not in entries and acr.lower() in lower_words:
            continue
        entry = entries.setdefault(acr, Entry(acr))
        entry.uses = n
        entry.documents = docs.get(acr, set())
    return entries


def _spelled_elsewhere(entries: dict[str, Entry], uses: Counter, chunks) -> None:
    """An acronym never defined beside a parenthesis may still be written out in full
    somewhere ("SPDA" and "service public départemental de l'autonomie"): find a run of
    words whose initials are exactly its letters (4 letters or more, to avoid chance)."""
    wanted = {fold(a): a for a in uses if a not in entries and len(a) >= 4 and a.isalpha()}
    if not wanted:
        return
    longest = max(len(k) for k in wanted)
    found: dict[str, Counter] = {}
    where: dict[tuple[str, str], tuple[str, str, str]] = {}
    for chunk_id, doc_id, text in chunks:
        words = list(re.finditer(r"[\wÀ-ÿ]+(?:['’][\wÀ-ÿ]+)?", text))
        content = [(m, fold(re.sub(r"^(?:l|d|qu)['’]", "", m.group(0), flags=re.IGNORECASE)))
                   for m in words]
        content = [(m, w) for m, w in content if w and w not in _MINOR]
        for i in range(len(content)):
            initials = ""
            for j in range(i, min(i + longest, len(content))):
                initials += content[j][1][0]
                acr = wanted.get(initials)
                if acr and content[i][1][0].isalpha():
                    start, end = content[i][0].start(), content[j][0].end()
                    phrase = re.sub(r"^(?:l|d|qu)['’]", "", text[start:end], flags=re.IGNORECASE)
                    key = fold(phrase)
                    found.setdefault(acr, Counter())[key] += 1
                    where.setdefault((acr, key), (phrase, doc_id, chunk_id))
    for acr, counts in found.items():
        key = counts.most_common(1)[0][0]  # the spelling the corpus uses most
        phrase, doc_id, chunk_id = where[(acr, key)]
        text = next(t for c, _, t in chunks if c == chunk_id)
        entries[acr] = Entry(acr, phrase, doc_id, chunk_id, _sentence_around(text, text.find(phrase)))


def _sentence_around(text: str, pos: int) -> str:
    start = max(text.rfind(". ", 0, pos) + 2, 0) if text.rfind(". ", 0, pos) >= 0 else 0
    end = text.find(". ", pos)
    end = len(text) if end < 0 else end + 1
    return text[start:end].strip()[:400]


EXPANSION_WEIGHT = 0.3


class Glossary:
    """Query expansion both ways: an acronym brings its expansion, and back."""

    def __init__(self, entries: dict[str, Entry]):
        self.entries = {a: e for a, e in entries.items() if e.expansion}
        self._keys = {a: (analyze(a) or [fold(a)])[0] for a in self.entries}
        self._by_token = {fold(a): e for a, e in self.entries.items()}
        self._expansion_terms = {a: analyze(e.expansion) for a, e in self.entries.items()}

    def expand_terms(self, question: str, terms: list[str]) -> tuple[list[str], dict[str, float]]:
        """Extra terms and their weights: an expansion's words count less than the acronym
        they stand for (many are common words), an acronym found from its expansion fully."""
        extra: list[str] = []
        weights: dict[str, float] = {}
        present = set(terms)
        for acr, exp_terms in self._expansion_terms.items():
            key = self._keys[acr]
            if key in present:
                for t in exp_terms:
                    if t not in present and t not in weights:
                        extra.append(t)
                        weights[t] = EXPANSION_WEIGHT
            elif exp_terms and all(t in present for t in exp_terms):
                extra.append(key)
        return extra, weights

    def expand_question(self, question: str) -> str:
        """The question with acronyms followed by their expansion, for dense retrieval."""
        found, folded = [], fold(question)
        for token in dict.fromkeys(tokenize(question)):
            entry = self._by_token.get(token)
            if entry and fold(entry.expansion) not in folded:
                found.append(f"{entry.acronym} : {entry.expansion}")
        return question if not found else question + " (" + " ; ".join(found) + ")"
