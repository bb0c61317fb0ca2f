"""Scorer: how likely each candidate sentence answers the question, and how likely the question
has an answer in the documents at all.

Two logistic regressions, both read from one small JSON file (assistant/data/scorer.json):
- the sentence model, over the named features of features.py, calibrated by Platt scaling on
  out-of-fold predictions (scikit-learn's CalibratedClassifierCV, folds grouped by question):
  it ranks the sentences;
- the question model, over one row per question (the best sentence's features and
  probability, the best three's typed features, the asked type): the probability that the
  documents answer the question. Near-miss questions (a name, a count or a deadline the
  documents do not give) share their subject with a sentence, which the sentence model alone
  scores high; the question model learns what such questions look like over all sentences.
The confidence the decision compares with its bars is the product of the two. The file also
holds the feature lists, the bars chosen on training folds and the hash of the training rows,
so a review can read it and a test can check it against its data. Training is
`assistant train-scorer` (evals/train.py); serving only reads the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .errors import AssistantError
from .features import FEATURE_NAMES, AnswerType
from .settings import PACKAGE_DIR

DEFAULT_PATH = PACKAGE_DIR / "data" / "scorer.json"
FORMAT = 2

# The question model's inputs: what the best sentences offer, summarised once per question.
_TOP = 3
_TYPED = ("type_offered", "counted_match", "idf_coverage", "dense_similarity", "plan_for_fact", "year_mismatch")
# The best sentence's probability is not an input: the confidence multiplies by it already.
QUESTION_FEATURES = ([f"best_{name}" for name in FEATURE_NAMES]
                     + [f"top{_TOP}_max_{name}" for name in _TYPED]
                     + [f"asks_{kind.value}" for kind in AnswerType])


def question_row(X: np.ndarray, p: np.ndarray, kind: AnswerType) -> np.ndarray:
    """One row of QUESTION_FEATURES from a question's sentence rows and their probabilities."""
    order = np.argsort(-p, kind="stable")
    top = order[:_TOP]
    typed = [float(X[top, FEATURE_NAMES.index(name)].max()) for name in _TYPED]
    row = [*X[order[0]], *typed, *(float(kind is k) for k in AnswerType)]
    return np.round(np.array(row, dtype=np.float64), 6)


class ScorerError(AssistantError):
    """The scorer file is missing, unreadable or does not match the code's features."""


def rows_hash(X: np.ndarray, y: np.ndarray, groups: list[str]) -> str:
    """Identity of a training set: features (rounded), labels and question ids."""
    h = hashlib.sha256()
    h.update(np.round(np.asarray(X, dtype=np.float64), 6).tobytes())
    h.update(np.asarray(y, dtype=np.int8).tobytes())
    h.update("\n".join(groups).encode())
    return h.hexdigest()


class Scorer:
    """Read-only model: `proba(X)` and `explain(row)`."""

    def __init__(self, model: dict, path: Path | None = None):
        self.model = model
        self.path = path
        self.features = list(model["features"])
        self.mean = np.asarray(model["mean"], dtype=np.float64)
        self.scale = np.asarray(model["scale"], dtype=np.float64)
        self.coef = np.asarray(model["coef"], dtype=np.float64)
        self.intercept = float(model["intercept"])
        self.a = float(model["calibration"]["a"])
        self.b = float(model["calibration"]["b"])
        self.thresholds = dict(model.get("thresholds", {}))
        question = model.get("question")  # absent while training the sentence model on folds
        self.q_features = list(question["features"]) if question else []
        self.q_mean = np.asarray(question["mean"] if question else [], dtype=np.float64)
        self.q_scale = np.asarray(question["scale"] if question else [], dtype=np.float64)
        self.q_coef = np.asarray(question["coef"] if question else [], dtype=np.float64)
        self.q_intercept = float(question["intercept"]) if question else 0.0
        self.confirm = model.get("confirm")  # the LLM confirmation's combination and bars, when fitted

    @classmethod
    def load(cls, path: Path | None = None) -> "Scorer":
        path = Path(path or DEFAULT_PATH)
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScorerError(f"Le fichier du modèle de décision {path} est introuvable. Réentraînez-le avec : "
                              "assistant train-scorer (ou restaurez-le depuis le dépôt).") from None
        except (OSError, ValueError) as exc:
            raise ScorerError(f"Le fichier du modèle de décision {path} est illisible ({type(exc).__name__}). "
                              "Réentraînez-le avec : assistant train-scorer.") from exc
        try:
            if model.get("format") != FORMAT:
                raise ValueError("format")
            if not isinstance(model.get("question"), dict):
                raise ValueError("question")
            scorer = cls(model, path)
            if scorer.confirm is not None:
                _check_confirm(scorer.confirm)
            if len(scorer.coef) != len(scorer.features) or len(scorer.mean) != len(scorer.features) or \
                    len(scorer.q_coef) != len(scorer.q_features) or len(scorer.q_mean) != len(scorer.q_features):
                raise ValueError("dimensions")
        except (KeyError, TypeError, ValueError) as exc:
            raise ScorerError(f"Le fichier du modèle de décision {path} est corrompu ({exc}). "
                              "Réentraînez-le avec : assistant train-scorer.") from exc
        if scorer.features != FEATURE_NAMES or scorer.q_features != QUESTION_FEATURES:
            raise ScorerError(f"Le modèle de décision {path} a été entraîné sur d'autres caractéristiques que celles "
                              "du code actuel. Réentraînez-le avec : assistant train-scorer.")
        return scorer

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The logistic regression's decision value for each row."""
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability that each row's sentence answers its question."""
        if len(X) == 0:
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(self.a * self.margin(X) + self.b))

    def answerable(self, X: np.ndarray, p: np.ndarray, kind: AnswerType) -> float:
        """Probability that the documents answer the question (0 without candidates)."""
        if len(X) == 0:
            return 0.0
        return answerable(self.model["question"], question_row(X, p, kind))

    def confidence(self, X: np.ndarray, p: np.ndarray, kind: AnswerType) -> float:
        """What the decision compares with its bars: answerable x the best sentence's probability."""
        return self.answerable(X, p, kind) * float(p.max()) if len(X) else 0.0

    def explain(self, row: np.ndarray) -> list[tuple[str, float, float]]:
        """(feature, value, contribution to the decision value), largest contribution first."""
        z = (np.asarray(row, dtype=np.float64) - self.mean) / self.scale
        parts = [(name, float(v), float(c)) for name, v, c in zip(self.features, row, z * self.coef)]
        return sorted(parts, key=lambda p: -abs(p[2]))

    def explain_question(self, X: np.ndarray, p: np.ndarray, kind: AnswerType) -> list[tuple[str, float, float]]:
        """The question model's (feature, value, contribution), largest contribution first."""
        row = question_row(X, p, kind)
        z = (row - self.q_mean) / self.q_scale
        parts = [(name, float(v), float(c)) for name, v, c in zip(self.q_features, row, z * self.q_coef)]
        return sorted(parts, key=lambda p: -abs(p[2]))


def _check_confirm(section) -> None:
    """The LLM confirmation's section: two coefficients, an intercept, both bars and its judge."""
    if not isinstance(section, dict) or len(section.get("coef", [])) != 2 or \
            not isinstance(section.get("intercept"), (int, float)) or not isinstance(section.get("judge"), str) or \
            not isinstance(section.get("thresholds"), dict) or set(section["thresholds"]) != {"answer", "check"}:
        raise ValueError("confirm")
    [float(v) for v in section["coef"]] + [float(v) for v in section["thresholds"].values()]


def fit(X: np.ndarray, y: np.ndarray, groups: list[str], folds: int = 5, C: float = 1.0) -> dict:
    """Fit and calibrate on all rows; deterministic (lbfgs, no shuffling)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.round(np.asarray(X, dtype=np.float64), 6)
    y = np.asarray(y, dtype=int)
    splits = list(GroupKFold(n_splits=folds).split(X, y, groups))
    base = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    calibrated = CalibratedClassifierCV(base, method="sigmoid", cv=splits, ensemble=False).fit(X, y)
    fitted = calibrated.calibrated_classifiers_[0]
    scaler, lr = fitted.estimator.steps[0][1], fitted.estimator.steps[1][1]
    sigmoid = fitted.calibrators[0]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return {
        "format": FORMAT,
        "features": FEATURE_NAMES,
        "mean": [round(float(v), 8) for v in scaler.mean_],
        "scale": [round(float(v), 8) for v in scale],
        "coef": [round(float(v), 8) for v in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 8),
        "calibration": {"a": round(float(sigmoid.a_), 8), "b": round(float(sigmoid.b_), 8)},
        "C": C,
        "folds": folds,
    }


def answerable(question_model: dict, row: np.ndarray) -> float:
    """The question model's probability for one question row (the one definition, for serving and
    training)."""
    z = (np.asarray(row, dtype=np.float64) - np.asarray(question_model["mean"], dtype=np.float64)) \
        / np.asarray(question_model["scale"], dtype=np.float64)
    logit = z @ np.asarray(question_model["coef"], dtype=np.float64) + float(question_model["intercept"])
    return float(1.0 / (1.0 + np.exp(-logit)))


def fit_question(Q: np.ndarray, y: np.ndarray, C: float = 1.0) -> dict:
    """Fit the question model on one row per question (y: the documents answer it); deterministic."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    Q = np.round(np.asarray(Q, dtype=np.float64), 6)
    scaler = StandardScaler().fit(Q)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    lr = LogisticRegression(C=C, max_iter=5000).fit((Q - scaler.mean_) / scale, np.asarray(y, dtype=int))
    return {
        "features": QUESTION_FEATURES,
        "mean": [round(float(v), 8) for v in scaler.mean_],
        "scale": [round(float(v), 8) for v in scale],
        "coef": [round(float(v), 8) for v in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 8),
        "C": C,
        "label": "the question is answerable (dataset field `answerable`)",
    }
