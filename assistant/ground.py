"""Grounding check: the invariants every shown sentence keeps, whatever decided it.

- it is in the passage it cites, and every number, name and contact in it is the passage's
  (verify.support: true by construction for verbatim sentences, and the guard that keeps it so);
- it gives no orders to the assistant (an injection inside a document is data, never an answer).
A decision left with no sentence becomes a refusal.
"""

from __future__ import annotations

from dataclasses import replace

from .decide import Decision
from .lexical import fold
from .outcome import REMOVED, Outcome, Reason
from .verify import gives_orders, support


def _ws(text: str) -> str:
    return " ".join(text.split())  # the splitter joins lines broken mid-sentence with a space


def ground(decision: Decision) -> tuple[Decision, list[dict]]:
    """The decision with unsupported or instructing sentences removed, and what was removed (with why)."""
    kept, removed = [], []
    for c in decision.shown:
        if gives_orders(fold(c.text)):
            removed.append({"sentence": c.text, "reason": REMOVED["instruction"]})
        elif _ws(c.text) not in _ws(c.result.text) or not support(c.text, c.result.text)[0]:
            removed.append({"sentence": c.text, "reason": REMOVED["unsupported"]})
        else:
            kept.append(c)
    if decision.outcome is Outcome.ANSWER and not kept:
        return Decision.refusal(Reason.UNGROUNDED, decision.probability), removed
    return replace(decision, shown=kept), removed
