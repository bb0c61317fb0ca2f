"""Gates: the hard refusals decided before any scoring.

Only what no score should ever override stays here: nothing was retrieved, or the question
asks for personal data about someone (the assistant never looks for it, whatever the
passages hold). Everything softer (unknown words, names no document writes, low
similarity) is a feature the scorer weighs (features.py).
"""

from __future__ import annotations

from .outcome import Reason
from .privacy import asks_personal_data


def gate(question: str, results: list) -> Reason | None:
    """The reason to refuse before scoring, or None."""
    if not results:
        return Reason.NOTHING_RETRIEVED
    if asks_personal_data(question):
        return Reason.PERSONAL_DATA
    return None
