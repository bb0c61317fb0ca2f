"""Discover: what a new hire needs to find their way around the corpus.

- one card per indexed document: title, publisher, date, kind, the themes it touches and
  its main headings (computed from its passages, so an uploaded document gets one too);
- the acronyms found in the corpus with their expansion and the passage that defines
  them (from the retriever's glossary); for those it never spells out, a usual definition
  from assistant/data/definitions.toml with its source, or a note that it never does;
  names and noise left out (see `glossary`);
- starter questions by theme (assistant/data/starters.toml), each answered by the corpus.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .glossary import UsualDefinition, load_usual_definitions
from .lexical import fold
from .settings import PACKAGE_DIR

STARTERS_FILE = PACKAGE_DIR / "data" / "starters.toml"


@dataclass
class Theme:
    name: str
    keywords: list[str]
    questions: list[dict]  # {"q", "expect"}


@dataclass
class Card:
    doc_id: str
    title: str
    publisher: str
    date: str
    kind: str
    chunks: int
    themes: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    notes: str = ""


@dataclass
class GlossaryItem:
    acronym: str
    expansion: str
    passage: str
    doc_id: str
    doc_title: str
    uses: int
    documents: list[str]
    found: str = ""  # where the corpus spells it out: "parentheses", "footnote", "spelled_out"
    usual: UsualDefinition | None = None  # only when the corpus never spells it out


def load_starters(path: Path = STARTERS_FILE) -> tuple[list[Theme], dict]:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    themes = [Theme(t["name"], list(t.get("keywords", [])), list(t.get("questions", []))) for t in data.get("theme", [])]
    return themes, dict(data.get("glossary", {}))


def _keyword_pattern(keywords: list[str]) -> re.Pattern:
    # Matched on folded text (no accents, lower case), as whole words.
    return re.compile(r"\b(?:" + "|".join(re.escape(fold(k)) for k in keywords) + r")\b")


# What a real section heading is made of: letters, digits, spaces and ordinary punctuation.
# OCR scraps carry other symbols (®, *, |, _, @, ©…).
_HEADING_CHARS = re.compile(r"[\w\s'’\-–—,;:.!?()«»\"/%&+°]+")
# A well-formed word: an optional elided article or pronoun ("l'", "qu'", "jusqu'"), then lower
# case, Capitalised or in capitals, or a number ("1er"). "SCCiz" and "AN'BASS" are not.
_ELISION = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|quelqu|presqu|aujourd|prud)['’]",
                      re.IGNORECASE)
_WORD_SHAPE = re.compile(r"[A-ZÀ-ÝŒÆ]?[a-zß-ÿœæ]+|[A-ZÀ-ÝŒÆ]+s?|\d+(?:er|re|e|ème|è|nd|nde)?")


def _well_formed(word: str) -> bool:
    return bool(_WORD_SHAPE.fullmatch(_ELISION.sub("", word)))


# A section number carries its separator ("1-", "2.1", "II."); a bare number opens a footnote.
_FOOTNOTE_START = re.compile(r"^\d{1,2}\s+[A-ZÀ-Ý]")
_HEADING_START = re.compile(r"^(?:[A-ZÀ-ÝŒ«\"]|\d{4}\b|\d{1,2}(?:[.\-–)]|\.\d)|[IVX]{1,5}[.\-–)])")
_FUNCTION_WORDS = {"de", "du", "des", "la", "le", "les", "l", "d", "et", "ou", "a", "à", "au", "aux", "en", "pour",
                   "sur", "par", "dans", "un", "une", "avec", "que", "qui"}
MIN_WELL_FORMED = 1.0  # share of well-formed words a heading needs: every one


def heading_problems(text: str, title: str) -> list[str]:
    """Why a section name is not a heading to show on a card (empty when it is one). Each test is
    measurable: length, characters, word shapes, how it starts and ends, overlap with the title."""
    words = re.findall(r"[\wÀ-ÿœŒæÆ'’]+", text)
    long_words = re.findall(r"[A-Za-zÀ-ÿ]{3,}", text)
    problems = []
    if len(long_words) < 2 or len(text) > 110:
        problems.append("longueur")
    if not _HEADING_CHARS.fullmatch(text):
        problems.append("symbole")
    shaped = [w for w in words if _well_formed(w)]
    if words and len(shaped) / len(words) < MIN_WELL_FORMED:
        problems.append("mot mal formé")
    if _FOOTNOTE_START.match(text) or not _HEADING_START.match(text):
        problems.append("début")  # a footnote, or a line broken off a sentence
    if words and fold(words[-1]) in _FUNCTION_WORDS:
        problems.append("fin")  # cut mid-phrase
    if text.isupper() and len(long_words) < 4:
        problems.append("bandeau")  # running headers printed in capitals
    in_title = set(re.findall(r"\w+", fold(title)))
    folded = re.findall(r"\w+", fold(text))
    if folded and sum(w in in_title for w in folded) / len(folded) >= 0.75:
        problems.append("titre")  # the title again, with or without a scrap
    return problems


def _useful_heading(text: str, title: str) -> bool:
    return not heading_problems(text, title)


def document_cards(retriever, documents: list[dict], themes: list[Theme]) -> list[Card]:
    """Cards for the indexed documents (`documents` from documents.list_documents)."""
    patterns = [(t.name, _keyword_pattern(t.keywords)) for t in themes if t.keywords]
    by_doc: dict[str, list[dict]] = {}
    for meta in retriever.catalog.values():
        by_doc.setdefault(meta["doc_id"], []).append(meta)
    cards = []
    for d in documents:
        chunks = sorted(by_doc.get(d["doc_id"], []), key=lambda m: m.get("ordinal", 0))
        hits = Counter()
        for meta in chunks:
            text = fold(meta.get("search") or meta.get("display", ""))
            for name, pattern in patterns:
                if pattern.search(text):
                    hits[name] += 1
        # A theme counts when enough of the document's passages mention it.
        needed = max(1, round(0.08 * len(chunks)))
        names = [name for name, n in hits.most_common() if n >= needed][:4]
        sections = Counter()
        order: dict[str, int] = {}
        for meta in chunks:
            leaf = (meta.get("section") or "").split(" > ")[-1].strip()
            if leaf and _useful_heading(leaf, d["title"]):
                sections[leaf] += 1
                order.setdefault(leaf, len(order))
        headings = sorted(sections, key=lambda h: (-sections[h], order[h]))[:6]
        headings.sort(key=lambda h: order[h])
        cards.append(Card(d["doc_id"], d["title"], d["publisher"], d["date"], d["kind"], d["chunks"],
                          names, headings, d.get("notes", "")))
    return cards


# An acronym the corpus never spells out, with no usual definition, is listed only when it
# is used at least this often: one passing use is more often a name, a scrap or an aside
# (« tests dits PCR ») than a term a new hire must learn.
MIN_USES_UNDEFINED = 2


def glossary(retriever, hide: list[str] | None = None,
             usual: dict[str, UsualDefinition] | None = None) -> list[GlossaryItem]:
    """Acronyms of the corpus in alphabetical order. Kept: every acronym the corpus spells out;
    one it never spells out if the curated list defines it or it is used often enough. Left
    out: `hide`, long capitalised words with no expansion (names), and acronyms whose every use
    is a party's name or on a signature line (« les députés LREM et MODEM »)."""
    hidden = set(hide or [])
    usual = load_usual_definitions() if usual is None else usual
    titles = {doc_id: rec.title for doc_id, rec in retriever.documents.items()}
    items = []
    for acr, e in retriever.glossary_entries.items():
        if acr in hidden:
            continue
        known = usual.get(acr) if not e.expansion else None
        if not e.expansion:
            if len(acr) >= 6 or e.uses < 1 or e.noise_uses >= e.uses:
                continue  # names, not acronyms
            if not known and e.uses < MIN_USES_UNDEFINED:
                continue
        doc_id = e.doc_id or (sorted(e.documents)[0] if e.documents else "")
        items.append(GlossaryItem(acr, e.expansion, e.passage, e.doc_id, titles.get(doc_id, doc_id), e.uses,
                                  sorted(titles.get(d, d) for d in e.documents), e.found, known))
    items.sort(key=lambda i: fold(i.acronym))
    return items
