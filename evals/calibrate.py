"""Calibrate the retrieval-relevance refusal threshold on the development set.

For each question, the best dense similarity among the passages retrieved for it; the
threshold is the highest value that refuses at most `max_false` of the answerable
questions, and the report says how many unanswerable ones it would then refuse.
"""

from __future__ import annotations

from pathlib import Path

from assistant.answer import relevance
from assistant.retrieve import get_retriever
from assistant.settings import Settings

from .dataset import load


def run(settings: Settings, dataset: Path, max_false: float = 0.02) -> dict:
    retriever = get_retriever(settings)
    answerable, other = [], []
    for item in load(dataset):
        best = relevance(retriever, item.question)
        (answerable if item.answerable else other).append(best)
    answerable.sort()
    allowed = int(max_false * len(answerable))
    threshold = answerable[allowed] if answerable else 0.0  # refusing below this spares the rest
    return {
        "threshold": round(threshold - 1e-4, 4),
        "answerable_min": round(answerable[0], 4) if answerable else None,
        "answerable_false_refusals": sum(1 for x in answerable if x < threshold - 1e-4),
        "unanswerable_range": [round(min(other), 4), round(max(other), 4)] if other else None,
        "unanswerable_refused": sum(1 for x in other if x < threshold - 1e-4),
        "unanswerable": len(other),
        "answerable": len(answerable),
    }
