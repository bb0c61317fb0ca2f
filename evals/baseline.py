"""The naive baseline every answer figure is reported beside: take the top passage, show its two
sentences sharing most words with the question, never refuse. Same retrieval, same candidates'
sentence splitter, same "holds the evidence" measure as the answer suite."""

from __future__ import annotations

from assistant.candidates import split
from assistant.verify import content_terms

from .checks import holds_evidence


def naive_answer(question: str, passages) -> list[str]:
    """The top passage's two sentences sharing most content words with the question, in reading order."""
    if not passages:
        return []
    asked = content_terms(question)
    sentences = split(passages[0].text)
    best = sorted(range(len(sentences)), key=lambda i: -len(asked & content_terms(sentences[i])))[:2]
    return [sentences[i] for i in sorted(best)]


def naive_useful(item, passages) -> float | None:
    """1.0 when the naive answer holds a gold quote (answerable questions only)."""
    if not item.answerable:
        return None
    return float(any(holds_evidence(s, [e["quote"] for e in item.evidence]) for s in naive_answer(item.question, passages)))
