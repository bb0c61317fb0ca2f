"""Acronyms of the corpus with their expansions, extracted from the corpus itself.

Where the corpus spells an acronym out, in this order of preference:
- beside parentheses: "revenu de solidarité active (RSA)" and "RSA (revenu de solidarité
  active)". The expansion is the shortest run of words before (or inside) the parentheses
  whose letters spell the acronym in order, starting on its first letter;
- in a footnote of the same document: a line "4 Conventions d'appui pour la lutte contre la
  pauvreté et a l'accès a l'emploi" whose words' initials spell an acronym the document uses
  (CALPAE), OCR damage included (a note marker read as "*" or "®", "I'" for "l'");
- written out in full anywhere, its words' initials being exactly its letters.
Acronyms used but never spelled out are listed too, with no expansion, so a reader can
be told that the corpus does not define them. Uses beside a party word ("les députés LREM")
or on a signature line are counted apart, so that the glossary can leave names out.

A short list of usual definitions (assistant/data/definitions.toml) covers common acronyms
the corpus uses without defining them. It is for readers only: retrieval expands acronyms
with the corpus's own expansions, never with these.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .lexical import analyze, fold, tokenize
from .settings import PACKAGE_DIR

DEFINITIONS_FILE = PACKAGE_DIR / "data" / "definitions.toml"

# A note call printed after an acronym, as OCR reads it ("CALPAE*", "SPDA®", "ARS¹").
_MARK = r"[*®°¹²³⁴⁵⁶⁷⁸⁹⁰]?"
_AFTER = re.compile(r"([^()\n]{3,160}?)\s*\(\s*([A-Z][A-Za-z0-9\-]{1,11}?)" + _MARK + r"\s*\)")
_BEFORE = re.compile(r"\b([A-Z][A-Z0-9]{1,9}[a-z]?)" + _MARK + r"\s*\(\s*([^()\n]{5,120}?)\s*\)")
# A footnote: a line that opens with its number, then text starting with a capital.
_FOOTNOTE = re.compile(r"^[ \t]*(\d{1,2})[ \t]+([A-ZÀ-Ý][^\n]*)", re.MULTILINE)
_WORD = re.compile(r"[\wÀ-ÿ]+(?:['’][\wÀ-ÿ]+)?")
# An elided article, or its OCR misreading "I'" for "l'".
_ELIDED = re.compile(r"^(?:l|d|qu|i)['’]", re.IGNORECASE)
# Words before an acronym that make it a party's name ("les députés LREM et MODEM").
_PARTY_CUE = re.compile(r"\b(?:députés?|sénat(?:eur|rice)s?|partis?|élus?|militants?)\b[^.;:\n]{0,30}$",
                        re.IGNORECASE)
_CONTACT = re.compile(r"@|\b(?:\d{2}[ .]){4}\d{2}\b")  # an e-mail address or a phone number
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
    # Where the corpus spells it out: "parentheses", "footnote", "spelled_out", or "" (never).
    # Required, so that a glossary cached before it existed fails to load and is rebuilt.
    found: str = field(kw_only=True)
    noise_uses: int = field(default=0, kw_only=True)  # uses beside a party word or on a signature line


@dataclass(frozen=True)
class UsualDefinition:
    """A common acronym's usual meaning, from the curated list, with the source it follows."""
    acronym: str
    expansion: str
    definition: str
    source: str
    url: str


def load_usual_definitions(path: Path = DEFINITIONS_FILE) -> dict[str, UsualDefinition]:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for raw in data.get("definition", []):
        d = UsualDefinition(**{k: str(raw[k]).strip() for k in ("acronym", "expansion", "definition", "source", "url")})
        if not (d.expansion and d.definition and d.source and d.url.startswith("https://")):
            raise ValueError(f"{path}: incomplete usual definition for {d.acronym!r}")
        out[d.acronym] = d
    return out


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
        cand[0] = _ELIDED.sub("", cand[0])
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
    noise: Counter = Counter()
    docs: dict[str, set] = {}
    for chunk_id, doc_id, text in chunks:
        for m in _ACRONYM.finditer(text):
            acr = m.group(1)
            if acr in _NOT_ACRONYMS or acr.isdigit() or not re.search(r"[A-Z]{2}", acr):
                continue
            uses[acr] += 1
            docs.setdefault(acr, set()).add(doc_id)
            if _is_noise_use(text, m.start(), m.end()):
                noise[acr] += 1
        for m in _AFTER.finditer(text):
            acr = m.group(2)
            exp = _expansion_before(acr, m.group(1))
            if exp and acr not in entries:
                entries[acr] = Entry(acr, exp, doc_id, chunk_id, _sentence_around(text, m.start(2)),
                                     found="parentheses")
        for m in _BEFORE.finditer(text):
            acr, inner = m.group(1), m.group(2)
            words = re.findall(r"[\wÀ-ÿ'’\-]+", inner)
            parts = [p for w in words for p in re.split(r"['’\-]", w) if p]
            if acr not in entries and acr not in _NOT_ACRONYMS and _spells(acr, parts):
                entries[acr] = Entry(acr, inner.strip(), doc_id, chunk_id, _sentence_around(text, m.start(1)),
                                     found="parentheses")
    # A word printed in capitals ("CONFIANCE") also appears in lower case: not an acronym.
    lower_words = {w for _, _, text in chunks for w in re.findall(r"\b[a-zà-ÿ]{2,}\b", text)}
    _in_footnotes(entries, docs, lower_words, chunks)
    _spelled_elsewhere(entries, uses, chunks)
    for acr, n in uses.items():
        if acr not in entries and acr.lower() in lower_words:
            continue
        entry = entries.setdefault(acr, Entry(acr, found=""))
        entry.uses = n
        entry.noise_uses = noise[acr]
        entry.documents = docs.get(acr, set())
    return entries


def _is_noise_use(text: str, start: int, end: int) -> bool:
    """Is this use a party's name ("les députés LREM et MODEM") or part of a signature line?"""
    line_start, line_end = text.rfind("\n", 0, start) + 1, text.find("\n", end)
    line = text[line_start:None if line_end < 0 else line_end]
    return bool(_PARTY_CUE.search(text[max(0, start - 60):start]) or _CONTACT.search(line))


def _initials_end(acronym: str, text: str) -> tuple[int, int] | None:
    """Where the opening words of `text` finish spelling the acronym by their initials, in order,
    the first word on its first letter, and how many words were passed over. Small words do not
    count, and a few other words may come between (CALPAE: Conventions d'Appui pour la Lutte
    *contre* la Pauvreté et a l'Accès a l'Emploi): one for every three letters."""
    letters = [c for c in fold(acronym) if c.isalnum()]
    matched = skipped = 0
    for m in _WORD.finditer(text):
        word = fold(_ELIDED.sub("", m.group(0)))
        if not word or word in _MINOR:
            continue
        if word[0] == letters[matched]:
            matched += 1
            if matched == len(letters):
                return m.end(), skipped
        elif matched == 0:
            return None
        else:
            skipped += 1
            if skipped > len(letters) // 3:
                return None
    return None


def _in_footnotes(entries: dict[str, Entry], docs: dict[str, set], lower_words: set, chunks) -> None:
    """Acronyms that a footnote of their own document spells out (the call is often lost to OCR,
    so the note is matched by its words alone). The note is the defining passage. A note defines
    one acronym, the one it spells with the fewest words passed over: "Contrats départementaux de
    prévention et de protection de l'enfance" is CDPPE, not CDPE."""
    found = []
    for order, (chunk_id, doc_id, text) in enumerate(chunks):
        for note in _FOOTNOTE.finditer(text):
            for acr in sorted(a for a, d in docs.items() if doc_id in d):
                # Three letters or more and not a French word ("SI"/"si"): a note opening on
                # the same initials by chance must not define it.
                if acr in entries or len(acr) < 3 or not acr.isalpha() or acr.lower() in lower_words:
                    continue
                spelled = _initials_end(acr, note.group(2))
                if spelled:
                    found.append((spelled[1], order, note.start(), acr, spelled[0], note, chunk_id, doc_id))
    used_notes = set()
    for _, order, at, acr, end, note, chunk_id, doc_id in sorted(found, key=lambda f: f[:4]):
        if acr in entries or (order, at) in used_notes:
            continue
        used_notes.add((order, at))
        body = note.group(2)
        rest = body[end:]
        # The note ends with its line, its sentence, or where the next paragraph or note was
        # glued onto it ("… de l'enfance Plusieurs solutions …", "… l'Autonomie 7 « … »").
        glued = re.match(r"\s+(?:[A-ZÀ-Ý«]|\d{1,2}\s)", rest)
        stop = end if glued else end + len(re.split(r"(?<=[.;])\s", rest, maxsplit=1)[0])
        entries[acr] = Entry(acr, body[:end].strip(), doc_id, chunk_id,
                             (note.group(1) + " " + body[:stop]).strip(), found="footnote")


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
        content = [(m, fold(_ELIDED.sub("", m.group(0)))) for m in words]
        content = [(m, w) for m, w in content if w and w not in _MINOR]
        for i in range(len(content)):
            initials = ""
            for j in range(i, min(i + longest, len(content))):
                initials += content[j][1][0]
                acr = wanted.get(initials)
                if acr and content[i][1][0].isalpha():
                    start, end = content[i][0].start(), content[j][0].end()
                    phrase = _ELIDED.sub("", text[start:end])
                    key = fold(phrase)
                    found.setdefault(acr, Counter())[key] += 1
                    where.setdefault((acr, key), (phrase, doc_id, chunk_id))
    for acr, counts in found.items():
        key = counts.most_common(1)[0][0]  # the spelling the corpus uses most
        phrase, doc_id, chunk_id = where[(acr, key)]
        text = next(t for c, _, t in chunks if c == chunk_id)
        entries[acr] = Entry(acr, phrase, doc_id, chunk_id, _sentence_around(text, text.find(phrase)),
                             found="spelled_out")


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
