"""Verify: every sentence of an answer must be supported by a passage it cites.

The small local model invents readily, so grounding is enforced here, in code:
- citation markers [n] that point at no given passage are dropped;
- a sentence is supported by a passage when every number in it (amounts, years, counts)
  appears in the passage, every name in it appears in the passage, and most of its
  content words are the passage's words;
- a sentence with a wrong or missing citation but support in another given passage has
  its citation repaired; a sentence with no support anywhere is removed;
- when nothing survives, the answer becomes a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .lexical import STOPWORDS, analyze, fold

REFUSAL = "Les documents disponibles ne permettent pas de répondre à cette question."

_MARKER = re.compile(r"\s*\[(\s*\d{1,2}(?:\s*[,;-]\s*\d{1,2})*\s*)\]")
_LOOSE_MARKER = re.compile(r"\[(?:extrait|source|doc(?:ument)?)\s*(\d{1,2})\]", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[ \u00a0\u202f.]\d{3})*(?:,\d+)?")
_NAME = re.compile(r"(?<![\w'’])([A-ZÀ-Ý][\wÀ-ÿ'’\-]{2,})")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÀ-Ý«\"(\[0-9-])|\n+")
# Words the model adds around facts that are not themselves claims, and the requests that open a
# question ("donne-moi", "explique") that are not its subject. Compared as stems: analyze() output.
_GENERIC = {t for w in ("selon", "document", "documents", "extrait", "extraits", "indique", "precise",
                        "mentionne", "texte", "egalement", "notamment", "question", "reponse",
                        "donne", "dis", "explique", "peux", "pourrais", "voudrais", "veux", "savoir",
                        "affiche", "ecris") for t in analyze(w)}
_REFUSAL_HINTS = ("ne permettent pas de répondre", "ne contiennent pas", "pas d'information",
                  "aucune information", "ne précisent pas", "ne mentionnent pas")

MIN_OVERLAP = 0.5
# A passage sentence that gives orders to the assistant is an injection, not information: quoting
# it verbatim (select style, extractive answer) would pass it on. Matched on folded text.
_INSTRUCTION = re.compile(
    r"\b(?:ignore|oublie|ne tiens pas compte d)\w*\s+(?:\w+\s+){0,2}(?:instructions?|consignes?|regles?)\b|"
    r"\breponds (?:desormais|maintenant|uniquement|seulement) (?:en|par|que)\b|\b(?:prompt|message) systeme\b|"
    r"\b(?:ignore|disregard|forget)\s+(?:\w+\s+){0,2}instructions\b|\bsystem prompt\b|\byou are now\b")
_EN_WORDS = {"the", "of", "and", "is", "are", "was", "were", "what", "who", "how", "which", "when", "why",
             "did", "does", "do", "for", "to", "in", "by", "that", "with", "many", "much", "about"}
_FR_WORDS = {"le", "la", "les", "de", "des", "du", "et", "est", "en", "un", "une", "pour", "que", "qui",
             "quel", "quelle", "quels", "quelles", "combien", "dans", "au", "aux", "sur", "par", "ce", "ces"}
# Contact details are never shown unless the cited passage has them (no invented phone or site).
_CONTACT = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:\+33\s?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b",
                      re.IGNORECASE)


@dataclass
class Sentence:
    text: str  # without markers
    cited: list[int]  # passage numbers after repair
    supported: bool
    reason: str = ""


@dataclass
class Verdict:
    sentences: list[Sentence] = field(default_factory=list)
    refused: bool = False
    model_refused: bool = False

    @property
    def kept(self) -> list[Sentence]:
        return [s for s in self.sentences if s.supported]

    @property
    def removed(self) -> list[Sentence]:
        return [s for s in self.sentences if not s.supported]

    def text(self) -> str:
        if self.refused:
            return REFUSAL
        return " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.cited)}".strip() for s in self.kept)


def numbers(text: str) -> set[str]:
    """Numbers as digits only ("6 000" == "6000", "3,5" kept with its decimals)."""
    out = set()
    for m in _NUMBER.finditer(text):
        raw = m.group(0)
        whole, _, decimals = raw.partition(",")
        digits = re.sub(r"\D", "", whole)
        out.add(digits + ("," + decimals if decimals else ""))
    return out


_TITLES = {"mme", "mmes", "mlle", "madame", "mesdames", "monsieur", "messieurs", "docteur", "maitre", "professeur"}


def name_words(text: str) -> list[str]:
    """Capitalised words not at the start of the sentence (bodies, places, people), as written."""
    found = []
    for m in _NAME.finditer(text):
        if m.start() == 0 or text[max(0, m.start() - 2) : m.start()].strip() in (".", "!", "?", ":", "«"):
            continue
        if m.group(1) not in found and fold(m.group(1)) not in _TITLES:
            found.append(m.group(1))
    return found


def names(text: str) -> set[str]:
    return {fold(w) for w in name_words(text)}


def content_terms(text: str) -> set[str]:
    return {t for t in analyze(text) if t not in STOPWORDS and t not in _GENERIC and not t.isdigit()}


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    out: list[str] = []
    for p in parts:
        # A marker alone after a full stop belongs to the previous sentence.
        if out and _MARKER.fullmatch(p):
            out[-1] += " " + p
        else:
            out.append(p)
    return out


def _markers(sentence: str) -> tuple[str, list[int]]:
    sentence = _LOOSE_MARKER.sub(lambda m: f"[{m.group(1)}]", sentence)
    cited: list[int] = []
    for m in _MARKER.finditer(sentence):
        for piece in re.split(r"[,;-]", m.group(1)):
            if piece.strip().isdigit():
                cited.append(int(piece))
    bare = _MARKER.sub("", sentence).strip()
    bare = re.sub(r"\s+([.,])", r"\1", bare)
    return bare, cited


def contacts(text: str) -> set[str]:
    """URLs, e-mail addresses and phone numbers, normalised for comparison."""
    return {re.sub(r"[\s.\-/]+$", "", re.sub(r"(?<=\d)[\s.-](?=\d)", "", m.group(0).lower()))
            for m in _CONTACT.finditer(text)}


def support(sentence: str, passage: str) -> tuple[bool, str]:
    """Is this sentence backed by this passage? (ok, reason when not)."""
    missing_contacts = contacts(sentence) - contacts(passage)
    if missing_contacts:
        return False, "coordonnée absente du passage : " + ", ".join(sorted(missing_contacts))
    missing_numbers = numbers(sentence) - numbers(passage)
    if missing_numbers:
        return False, "nombre absent du passage : " + ", ".join(sorted(missing_numbers))
    passage_folded = fold(passage)
    missing_names = {n for n in names(sentence) if n not in passage_folded}
    if missing_names:
        return False, "nom absent du passage : " + ", ".join(sorted(missing_names))
    terms = content_terms(sentence)
    if not terms:
        return False, "phrase sans contenu vérifiable"
    overlap = len(terms & content_terms(passage)) / len(terms)
    if overlap < MIN_OVERLAP:
        return False, f"trop peu de mots du passage ({overlap:.0%})"
    return True, ""


def is_model_refusal(text: str) -> bool:
    low = text.lower()
    return any(h in low for h in _REFUSAL_HINTS)


def gives_orders(folded: str) -> bool:
    """A sentence (folded) that gives orders to the assistant: an injection, never information."""
    return bool(_INSTRUCTION.search(folded))


def looks_english(question: str) -> bool:
    words = re.findall(r"[a-z]+", fold(question))
    return sum(w in _EN_WORDS for w in words) > sum(w in _FR_WORDS for w in words)


def verify(answer: str, passages: dict[int, str]) -> Verdict:
    """Check `answer` against the passages it was given (numbered as in the prompt)."""
    verdict = Verdict()
    if not answer.strip() or is_model_refusal(answer) and not numbers(answer):
        verdict.refused = True
        verdict.model_refused = bool(answer.strip())
        return verdict
    for raw in split_sentences(answer):
        text, cited = _markers(raw)
        if not text or not any(c.isalnum() for c in text):
            continue
        if is_model_refusal(text):
            verdict.model_refused = True
            continue
        valid = [n for n in dict.fromkeys(cited) if n in passages]
        if gives_orders(fold(text)):
            verdict.sentences.append(Sentence(text, valid, False, "consigne adressée à l'assistant, pas une information"))
            continue
        backing = [n for n in valid if support(text, passages[n])[0]]
        if not backing:  # wrong or missing citation: is another given passage the support?
            backing = [n for n in passages if support(text, passages[n])[0]][:1]
        if backing:
            verdict.sentences.append(Sentence(text, backing, True))
        else:
            reasons = [support(text, passages[n])[1] for n in (valid or list(passages)[:1])]
            verdict.sentences.append(Sentence(text, valid, False, reasons[0] if reasons else "aucun passage"))
    verdict.refused = not verdict.kept
    return verdict
