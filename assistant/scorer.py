"""Scorer: the calibrated probability that a candidate sentence answers the question.

A logistic regression over the named features of features.py, calibrated by Platt scaling
on out-of-fold predictions (scikit-learn's CalibratedClassifierCV, folds grouped by
question). The fitted numbers live in a small JSON file (assistant/data/scorer.json) with
the feature list, the decision thresholds chosen on training folds, and the hash of the
training rows, so a review can read it and a test can check it against its data.
Training is `assistant train-scorer` (evals/train.py); serving only reads the file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .errors import AssistantError
from .features import FEATURE_NAMES
from .settings import PACKAGE_DIR

DEFAULT_PATH = PACKAGE_DIR / "data" / "scorer.json"
FORMAT = 1


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
            scorer = cls(model, path)
            if len(scorer.coef) != len(scorer.features) or len(scorer.mean) != len(scorer.features):
                raise ValueError("dimensions")
        except (KeyError, TypeError, ValueError) as exc:
            raise ScorerError(f"Le fichier du modèle de décision {path} est corrompu ({exc}). "
                              "Réentraînez-le avec : assistant train-scorer.") from exc
        if scorer.features != FEATURE_NAMES:
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

    def explain(self, row: np.ndarray) -> list[tuple[str, float, float]]:
        """(feature, value, contribution to the decision value), largest contribution first."""
        z = (np.asarray(row, dtype=np.float64) - self.mean) / self.scale
        parts = [(name, float(v), float(c)) for name, v, c in zip(self.features, row, z * self.coef)]
        return sorted(parts, key=lambda p: -abs(p[2]))


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
