"""Decide: answer, passages to check, or refusal, from the scorer's calibrated probabilities
(the sentences' to choose what is shown, the question's confidence to choose the outcome).

The bars come from settings (by default the ones chosen on training folds and stored in the
scorer file, see evals/train.py). An answer is made of sentences shown whole and verbatim:
the best one with the sentence that follows it in its passage (a sentence naming the
question's subject is often followed by the one that answers it: « La Loire-Atlantique a
développé un plan… » then « Il se décline en 4 axes… »), the second best (two-part questions,
an answer spread over two places), and the items of a list either one opens. Measured by
leave-one-set-out over the five development sets (`assistant train-scorer`): showing the
continuation and the second best raised the useful answers at the same precision bar
(see evals/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .candidates import Candidate
from .features import AnswerType, is_heading, offered_types
from .outcome import Outcome, Reason

MAX_SENTENCES = 2  # scored sentences shown; list items and the best one's continuation follow
MAX_LIST_ITEMS = 8


@dataclass(frozen=True)
class Bars:
    answer: float  # at or above: an answer
    check: float  # at or above (and under `answer`): passages to check; under: refusal


@dataclass
class Decision:
    outcome: Outcome
    reason: Reason | None = None
    shown: list[Candidate] = field(default_factory=list)  # the answer's sentences, or the one to highlight
    probability: float = 0.0  # the confidence compared with the bars

    @classmethod
    def refusal(cls, reason: Reason, probability: float = 0.0) -> "Decision":
        return cls(Outcome.REFUSE, reason, probability=probability)


def _follows(a: Candidate, b: Candidate) -> bool:
    return a.passage == b.passage and b.index == a.index + 1


def _completed(best: Candidate, candidates: list[Candidate], kind: AnswerType, follow: bool) -> list[Candidate]:
    """Sentences after `best` that belong to its answer: list items it opens, else the next sentence
    (always when `follow`, otherwise when it gives the expected type of answer that `best` lacks)."""
    after = [c for c in candidates if c.passage == best.passage and c.index > best.index]
    after.sort(key=lambda c: c.index)
    if after and _follows(best, after[0]) and is_heading(best.text):
        return after[:1]  # a heading announces its content: the sentence under it is the answer's body
    if best.text.rstrip().endswith(":") or kind is AnswerType.LIST and after and is_heading(after[0].text):
        items = []
        for c in after[:MAX_LIST_ITEMS]:
            if items and not _follows(items[-1], c) or not items and not _follows(best, c):
                break
            if not best.text.rstrip().endswith(":") and not is_heading(c.text):
                break  # an announced list (« quatre axes… ») runs over its short item lines only
            items.append(c)
        return items
    if after and _follows(best, after[0]) and (follow or (
            kind not in (AnswerType.OTHER, AnswerType.YES_NO)
            and kind not in offered_types(best.text) and kind in offered_types(after[0].text))):
        return after[:1]
    return []


def decide(candidates: list[Candidate], p: np.ndarray, bars: Bars, kind: AnswerType,
           confidence: float | None = None) -> Decision:
    """`p` ranks the sentences; `confidence` (the scorer's, default the best sentence's probability)
    is compared with the bars."""
    if not candidates:
        return Decision.refusal(Reason.NOTHING_RETRIEVED)
    order = [int(i) for i in np.argsort(-p, kind="stable")]
    top = order[0]
    best_p = float(p[top]) if confidence is None else float(confidence)
    if best_p < bars.check:
        return Decision(Outcome.REFUSE, Reason.LOW_CONFIDENCE, [candidates[top]], best_p)
    shown = _composed(candidates, order, kind)
    if best_p < bars.answer:  # the sentences an answer would show, to be checked, not stated
        return Decision(Outcome.CHECK, Reason.UNCERTAIN, shown, best_p)
    return Decision(Outcome.ANSWER, None, shown, best_p)


def _composed(candidates: list[Candidate], order: list[int], kind: AnswerType) -> list[Candidate]:
    """The best sentence with its continuation, the second best, and the list items either opens."""
    top = order[0]
    shown: list[Candidate] = []
    for i in order[:MAX_SENTENCES]:
        for c in [candidates[i], *_completed(candidates[i], candidates, kind, follow=i == top)]:
            if all(c.key != s.key for s in shown) and all(c.text != s.text for s in shown):
                shown.append(c)
    shown.sort(key=lambda c: c.key)  # in reading order: passage, then place in it
    return shown
