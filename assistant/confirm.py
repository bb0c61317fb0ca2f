"""Confirm: the LLM's yes/no reading of an answer, one more input to the decision, never the arbiter.

When an LLM is configured and `ASSISTANT_CONFIRM` is on, the sentences the decision would show
(answer or passages to check) go to the model with the question, and the probability of « oui »
against « non » is read from its first reply token: nothing is generated, so nothing it writes
can reach the user. A two-input logistic model, fitted on the development sets by
`assistant train-scorer` and stored in the scorer file under "confirm", combines that probability
with the scorer's confidence; the result is compared with the bars chosen for it. Questions the
scorer refuses outright are never sent, nor sentences the grounding check removes (answer.py).
Measured on held-out sets: evals/README.md.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .llm import backend, hold_model
from .prompts import load as load_prompt, neutralize


def messages(prompts_dir, question: str, sentences: list[str]) -> tuple[str, str]:
    """(system, user) messages: the sentences as a list, then the question, both as quoted data."""
    listed = "\n".join(f"- {neutralize(s)}" for s in sentences)
    return (load_prompt(prompts_dir, "confirm_system"),
            load_prompt(prompts_dir, "confirm_user").format(sentences=listed, question=neutralize(question)))


def key(system: str, user: str) -> str:
    """Identity of what the model reads (a stored judgement is reused only for the same prompt)."""
    return hashlib.sha256(f"{system}\n\n{user}".encode("utf-8")).hexdigest()[:16]


def yes_probability(settings, model, system: str, user: str, timeout: float) -> float:
    """The configured backend's P(« oui »), waiting at most `timeout` s behind other users' generations."""
    with hold_model(timeout):
        return float(backend(settings).yes_probability(model, system, user))


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def inputs(confidence: float, p_yes: float) -> list[float]:
    return [_logit(confidence), _logit(p_yes)]


def combined(model: dict, confidence: float, p_yes: float) -> float:
    """The combined probability (the one definition, for serving and training)."""
    z = float(np.dot(model["coef"], inputs(confidence, p_yes)) + model["intercept"])
    return 1.0 / (1.0 + math.exp(-z))


def fit(confidence: list[float], p_yes: list[float], correct: list[bool], C: float = 1.0) -> dict:
    """The combination, fitted on questions of the development sets (labels: the shown sentences hold
    the evidence); deterministic."""
    from sklearn.linear_model import LogisticRegression

    X = np.array([inputs(c, p) for c, p in zip(confidence, p_yes)])
    lr = LogisticRegression(C=C, max_iter=5000).fit(X, np.asarray(correct, dtype=int))
    return {"inputs": ["logit(confidence)", "logit(p_yes)"], "coef": [round(float(v), 8) for v in lr.coef_[0]],
            "intercept": round(float(lr.intercept_[0]), 8), "C": C}
