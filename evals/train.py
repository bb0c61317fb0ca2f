"""Training of the answer scorer: `assistant train-scorer`.

Rows are (question, candidate sentence) pairs built by the answer path's own functions
(retrieve -> gates -> candidates -> features) over the development sets; a sentence is a
positive when it holds a gold quote of its question (checks.holds_evidence); every
sentence of an unanswerable question is a negative. The newest held-out set is never read.
The question model (scorer.py) is fitted on one row per question built from out-of-fold
sentence probabilities, labelled by the dataset's `answerable`; the confidence compared with
the bars is its probability times the best sentence's.

Evaluation is cross-validation grouped by question (no question's sentences in both train
and test), and leave-one-set-out: each development set, written by a different person at a
different time, scored by a model and bars trained on the others only, the closest this
file gets to questions nobody tuned for. A question counts as answered correctly when the
sentences decide() would show hold the evidence. The bars are chosen on out-of-fold
confidences:
- answer: the lowest bar whose answers are right at least `precision` of the time
  (an unanswerable question answered counts as wrong);
- check: under it, refusal; chosen so that at most `max_refused` of the answerable questions
  are refused outright.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import confirm
from assistant.answer import clean_history, rewrite_question, search
from assistant.decide import Bars, decide
from assistant.features import candidate_features
from assistant.gates import gate
from assistant.errors import AssistantError
from assistant.llm import generates, get_chat_model, identity as llm_identity
from assistant.retrieve import get_retriever
from assistant.scorer import DEFAULT_PATH, Scorer, answerable, fit, fit_question, question_row, rows_hash
from assistant.settings import PROJECT_DIR, Settings

from .checks import holds_evidence, risk_coverage
from .dataset import load

DATASETS = PROJECT_DIR / "evals" / "datasets"
# The development sets the scorer learns from: every set written so far but the newest, heldout9,
# which is never read here.
TRAINING_SETS = ("dev", "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6", "heldout7", "heldout8")
PRECISION = 0.92
MAX_REFUSED = 0.10


@dataclass
class Rows:
    X: np.ndarray
    y: np.ndarray
    groups: list[str]  # question id of each row
    questions: dict[str, dict]  # id -> {"answerable", "category", "set", "kind", "rows": (start, end)}
    datasets: dict[str, str]  # file name -> sha256 (first 16)
    candidates: dict[str, list] = field(default_factory=dict)  # id -> its candidates, as decide() sees them

    def subset(self, keep) -> "Rows":
        """The rows of the questions whose id `keep` accepts."""
        idx: list[int] = []
        questions = {}
        for qid, q in self.questions.items():
            if keep(qid):
                start, end = q["rows"]
                questions[qid] = {**q, "rows": (len(idx), len(idx) + end - start)}
                idx += range(start, end)
        at = np.array(idx, dtype=int)
        return Rows(self.X[at], self.y[at], [self.groups[i] for i in idx], questions, self.datasets,
                    {qid: self.candidates[qid] for qid in questions if qid in self.candidates})

    @property
    def sha(self) -> str:
        return rows_hash(self.X, self.y, self.groups)


def build_rows(settings: Settings, sets: tuple[str, ...] = TRAINING_SETS) -> Rows:
    retriever = get_retriever(settings)
    X, y, groups, questions, datasets, candidates_of = [], [], [], {}, {}, {}
    for name in sets:
        path = DATASETS / f"{name}.jsonl"
        datasets[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for item in load(path):
            history = clean_history(item.history)
            standalone = rewrite_question(item.question, history, None, settings)  # no LLM: deterministic
            given = search(retriever, standalone, history, settings)[: settings.answer_passages]
            if gate(standalone, given):
                continue  # refused before scoring: the scorer never sees these
            q, candidates, features = candidate_features(standalone, given, retriever, focus=item.question)
            quotes = [e["quote"] for e in item.evidence]
            labels = [int(item.answerable and holds_evidence(c.text, quotes)) for c in candidates]
            start = len(y)
            X += list(features)
            y += labels
            groups += [item.id] * len(labels)
            questions[item.id] = {"answerable": item.answerable, "category": item.category, "set": name,
                                  "kind": q.kind, "rows": (start, len(y)), "standalone": standalone}
            candidates_of[item.id] = candidates
    return Rows(np.round(np.array(X, dtype=np.float64), 6), np.array(y, dtype=int), groups, questions, datasets,
                candidates_of)


def question_rows(rows: Rows, p: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The question model's input: (ids, one row per question with candidates, answerable labels)."""
    ids = [qid for qid, q in rows.questions.items() if q["rows"][1] > q["rows"][0]]
    Q = [question_row(rows.X[slice(*rows.questions[qid]["rows"])], p[slice(*rows.questions[qid]["rows"])],
                      rows.questions[qid]["kind"]) for qid in ids]
    y = [int(rows.questions[qid]["answerable"]) for qid in ids]
    return ids, np.array(Q).reshape(len(ids), -1), np.array(y, dtype=int)


def confidences(rows: Rows, p: np.ndarray, model: dict | None = None, folds: int = 5, C: float = 1.0
                ) -> dict[str, float]:
    """Per question: answerable x best sentence probability. With `model` (a fitted question model),
    its predictions; without, out-of-fold predictions of question models fitted on the other folds."""
    from sklearn.model_selection import KFold

    ids, Q, y = question_rows(rows, p)
    probability = np.zeros(len(ids))
    if model is not None:
        probability = np.array([answerable(model, row) for row in Q])
    else:
        for train, test in KFold(n_splits=folds).split(Q):
            fold = fit_question(Q[train], y[train], C)
            probability[test] = [answerable(fold, row) for row in Q[test]]
    return {qid: float(a) * float(p[slice(*rows.questions[qid]["rows"])].max()) for qid, a in zip(ids, probability)}


def question_level(rows: Rows, p: np.ndarray, confidence: dict[str, float] | None = None) -> list[dict]:
    """Per question: the confidence the decision compares with its bars (by default the best
    candidate's probability), and whether the sentences decide() would show as an answer hold the
    evidence."""
    out = []
    for qid, q in rows.questions.items():
        start, end = q["rows"]
        if end == start:
            out.append({"id": qid, "p": 0.0, "correct": False, "answerable": q["answerable"]})
            continue
        candidates = rows.candidates[qid]
        at = {c.key: start + i for i, c in enumerate(candidates)}
        shown = [at[c.key] for c in decide(candidates, p[start:end], Bars(0.0, 0.0), q["kind"]).shown]
        best = confidence[qid] if confidence is not None else float(p[start:end].max())
        out.append({"id": qid, "p": best, "correct": bool(rows.y[shown].any()),
                    "answerable": q["answerable"], "category": q["category"],
                    "reachable": bool(rows.y[start:end].any())})
    return out


def thresholds(per_question: list[dict], precision: float = PRECISION, max_refused: float = MAX_REFUSED) -> dict:
    """The answer and check bars, from out-of-fold question-level probabilities."""
    grid = sorted({round(q["p"], 4) for q in per_question})
    answer_bar = 1.0
    for t in grid:  # lowest bar meeting the precision
        shown = [q for q in per_question if q["p"] >= t]
        if shown and sum(q["correct"] for q in shown) / len(shown) >= precision:
            answer_bar = t
            break
    answerable = sorted(q["p"] for q in per_question if q["answerable"])
    k = int(max_refused * len(answerable))
    check_bar = min(answer_bar, answerable[k] if answerable else 0.0)
    return {"answer": round(answer_bar, 4), "check": round(check_bar, 4)}


def operating_point(per_question: list[dict], bars: dict) -> dict:
    ans = [q for q in per_question if q["answerable"]]
    una = [q for q in per_question if not q["answerable"]]
    shown = [q for q in per_question if q["p"] >= bars["answer"]]
    return {
        "useful_answer": round(sum(q["correct"] and q["p"] >= bars["answer"] for q in ans) / max(1, len(ans)), 3),
        "refusal": round(sum(q["p"] < bars["answer"] for q in una) / max(1, len(una)), 3),
        "answer_precision": round(sum(q["correct"] for q in shown) / max(1, len(shown)), 3),
        "false_refusal": round(sum(q["p"] < bars["check"] for q in ans) / max(1, len(ans)), 3),
        "questions": len(per_question),
    }


def cross_validate(rows: Rows, folds: int = 5, C: float = 0.03) -> tuple[np.ndarray, dict[str, float], list[dict]]:
    """Out-of-fold sentence probabilities (folds grouped by question), out-of-fold confidences and
    each fold's figures."""
    from sklearn.model_selection import GroupKFold

    p = np.zeros(len(rows.y))
    reports = []
    splits = list(GroupKFold(n_splits=folds).split(rows.X, rows.y, rows.groups))
    for k, (train, test) in enumerate(splits):
        model = fit(rows.X[train], rows.y[train], [rows.groups[i] for i in train], folds=folds, C=C)
        p[test] = Scorer(model).proba(rows.X[test])
        reports.append({"fold": k + 1, "rows": len(test), "questions": len({rows.groups[i] for i in test})})
    confidence = confidences(rows, p, folds=folds)
    per_question = question_level(rows, p, confidence)
    ids_of = {}
    for k, (_, test) in enumerate(splits):
        for i in test:
            ids_of[rows.groups[i]] = k
    bars = thresholds(per_question)
    for report in reports:
        mine = [q for q in per_question if ids_of.get(q["id"]) == report["fold"] - 1]
        report.update(operating_point(mine, bars))
    return p, confidence, reports


def fitted(rows: Rows, folds: int = 5, C: float = 0.03) -> tuple[dict, dict]:
    """Both models fitted on all of `rows` and the bars chosen on their out-of-fold figures. The
    question model learns from out-of-fold sentence probabilities, as it will see new questions."""
    p, confidence, reports = cross_validate(rows, folds, C)
    model = fit(rows.X, rows.y, rows.groups, folds=folds, C=C)
    _, Q, y = question_rows(rows, p)
    model["question"] = fit_question(Q, y)
    per_question = question_level(rows, p, confidence)
    model["thresholds"] = thresholds(per_question)
    return model, {"per_question": per_question, "folds": reports}


def loso_questions(rows: Rows, folds: int = 5, C: float = 0.03) -> list[dict]:
    """Per question, each development set scored by models and bars trained on the other sets only:
    the confidence, whether the shown sentences hold the evidence, the shown sentences, the fold's bars."""
    out = []
    for name in dict.fromkeys(q["set"] for q in rows.questions.values()):
        train_rows = rows.subset(lambda qid: rows.questions[qid]["set"] != name)
        test_rows = rows.subset(lambda qid: rows.questions[qid]["set"] == name)
        model, _ = fitted(train_rows, folds, C)
        p = Scorer(model).proba(test_rows.X)
        per_question = question_level(test_rows, p, confidences(test_rows, p, model["question"]))
        for q in per_question:
            start, end = test_rows.questions[q["id"]]["rows"]
            shown = decide(test_rows.candidates[q["id"]], p[start:end], Bars(0.0, 0.0),
                           test_rows.questions[q["id"]]["kind"]).shown if end > start else []
            q.update(set=name, bars=model["thresholds"], shown=[c.text for c in shown],
                     question=test_rows.questions[q["id"]].get("standalone", ""))
        out += per_question
    return out


def by_set(per_question: list[dict]) -> dict:
    """Operating point and risk-coverage area of each set, at the bars its fold chose."""
    out = {}
    for name in dict.fromkeys(q["set"] for q in per_question):
        mine = [q for q in per_question if q["set"] == name]
        bars = mine[0]["bars"]
        out[name] = {**operating_point(mine, bars), "bars": bars,
                     "aurc": risk_coverage([(q["p"], q["correct"]) for q in mine])["aurc"]}
    return out


def leave_one_set_out(rows: Rows, folds: int = 5, C: float = 0.03) -> dict:
    """Each development set scored by models and bars trained on the other sets only."""
    return by_set(loso_questions(rows, folds, C))


# ----- the LLM confirmation (assistant/confirm.py), fitted on leave-one-set-out questions -----------
JUDGEMENTS = PROJECT_DIR / "assistant" / "data" / "confirm_judgements.jsonl"
JUDGED_SHARE = 0.98  # of the prompts, for the confirmation to be fitted without asking the model


def confirm_prompts(settings: Settings, per_question: list[dict]) -> dict[str, tuple[str, str]]:
    """The prompt of every question the decision would send to the model (not refused outright)."""
    out = {}
    for q in per_question:
        if q["shown"] and q["p"] >= q["bars"]["check"]:
            system, user = confirm.messages(settings.prompts_dir, q["question"], q["shown"])
            q["key"] = confirm.key(system, user)
            out[q["key"]] = (system, user)
    return out


def judgements(settings: Settings, prompts: dict[str, tuple[str, str]], ask: bool, judge: str | None = None,
               path: Path = JUDGEMENTS) -> dict[str, float]:
    """P(« oui ») per prompt key, from the stored file (`judge`'s judgements only, by default the
    configured model's); with `ask`, the missing ones from the configured model (appended to the file)."""
    model_id = llm_identity(settings) if ask or judge is None else judge
    if ask and not generates(settings):
        raise AssistantError("La confirmation demande un modèle de langage : choisissez ASSISTANT_LLM=llama ou openai.")
    stored = {}
    if path.exists():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                j = json.loads(line) if line.strip() else None
                if j and j.get("model") == model_id:
                    stored[j["key"]] = float(j["p_yes"])
            except (ValueError, KeyError, TypeError) as exc:
                raise AssistantError(f"{path}, ligne {n} : jugement illisible ({type(exc).__name__}).") from exc
    missing = [k for k in prompts if k not in stored]
    if ask and missing:
        model = get_chat_model(settings)
        with path.open("a", encoding="utf-8") as f:
            for k in missing:
                stored[k] = round(confirm.yes_probability(settings, model, *prompts[k], timeout=600), 6)
                f.write(json.dumps({"key": k, "p_yes": stored[k], "model": model_id}, ensure_ascii=False) + "\n")
                f.flush()
    return {k: stored[k] for k in prompts if k in stored}


def confirm_stage(per_question: list[dict], judged: dict[str, float], C: float = 1.0) -> tuple[dict, list[dict]]:
    """The combination and its bars, fitted on all judged questions; and leave-one-set-out per
    question (each set combined by a model fitted on the other sets)."""
    # A question the scorer refused outright is never sent: under every bar (-1), refused as before.
    def combine(model, q):
        return confirm.combined(model, q["p"], judged[q["key"]]) if q.get("key") in judged else -1.0

    def fitted_on(qs):
        sent = [q for q in qs if q.get("key") in judged]
        model = confirm.fit([q["p"] for q in sent], [judged[q["key"]] for q in sent], [q["correct"] for q in sent], C)
        bars = thresholds([{**q, "p": combine(model, q)} for q in qs])
        # The outright-refusal budget counts the questions never sent; when they alone spend it the
        # percentile is the sentinel and no sent question is refused.
        model["thresholds"] = {**bars, "check": max(0.0, bars["check"])}
        return model

    out = []
    for name in dict.fromkeys(q["set"] for q in per_question):
        model = fitted_on([q for q in per_question if q["set"] != name])
        out += [{**q, "p": combine(model, q), "bars": model["thresholds"]} for q in per_question if q["set"] == name]
    model = fitted_on(per_question)
    model["training"] = {"judged": sum(q.get("key") in judged for q in per_question),
                         "unjudged": sum("key" in q and q["key"] not in judged for q in per_question),
                         "judgements_sha256": hashlib.sha256(json.dumps(sorted(judged.items())).encode()).hexdigest()}
    return model, out


def train(settings: Settings, path: Path = DEFAULT_PATH, folds: int = 5, C: float = 0.03,
          write: bool = True, ask: bool = False) -> dict:
    """Build rows, cross-validate, choose the bars, fit on everything, save; returns the model dict.
    The LLM confirmation is fitted too when every judgement it needs is stored (with `ask`, the
    missing ones are asked of the configured LLM: slow)."""
    rows = build_rows(settings)
    model, oof = fitted(rows, folds, C)
    model["training"] = {
        "rows_sha256": rows.sha, "rows": int(len(rows.y)), "positives": int(rows.y.sum()),
        "questions": len(rows.questions), "datasets": rows.datasets,
        "candidate_passages": settings.answer_passages,
        "labels": "evals/checks.py::holds_evidence", "precision_target": PRECISION, "max_refused": MAX_REFUSED,
    }
    per_question = oof["per_question"]
    curve = risk_coverage([(q["p"], q["correct"]) for q in per_question])
    loso = loso_questions(rows, folds, C)
    model["cross_validation"] = {"folds": oof["folds"], "overall": operating_point(per_question, model["thresholds"]),
                                 "aurc": curve["aurc"], "leave_one_set_out": by_set(loso)}
    prompts = confirm_prompts(settings, loso)
    judge = llm_identity(settings) if ask else _saved_judge(path) or llm_identity(settings)
    judged = judgements(settings, prompts, ask, judge)
    # An approximate-neighbour tie can change a few prompts between builds: those few count as refused.
    if prompts and len(judged) >= JUDGED_SHARE * len(prompts):
        model["confirm"], combined_loso = confirm_stage(loso, judged)
        model["confirm"]["judge"] = judge  # the model whose readings it combines
        model["confirm"]["leave_one_set_out"] = by_set(combined_loso)
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(model, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return model


def _saved_judge(path: Path) -> str | None:
    """The model whose judgements the saved confirmation combines (retraining without --confirm keeps it)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")).get("confirm", {}).get("judge")
    except (OSError, ValueError, AttributeError):
        return None


def verify_saved(settings: Settings, path: Path | None = None) -> tuple[bool, str]:
    """Whether the saved scorer is the one its training data gives: same rows, same fitted numbers."""
    path = Path(path or settings.scorer_path)
    saved = Scorer.load(path).model
    rows = build_rows(settings)
    if rows.sha != saved["training"]["rows_sha256"]:
        return False, (f"Le modèle {path} ne correspond plus à ses données d'entraînement (jeux, caractéristiques ou "
                       "index ont changé) : relancez assistant train-scorer.")
    again, _ = fitted(rows, folds=saved["folds"], C=saved["C"])
    for key in ("mean", "scale", "coef", "intercept", "calibration", "question", "thresholds"):
        if json.dumps(again[key]) != json.dumps(saved[key]):
            return False, f"Le réentraînement ne redonne pas le même modèle ({key}) : l'entraînement n'est pas reproductible."
    if "confirm" in saved:
        loso = loso_questions(rows, folds=saved["folds"], C=saved["C"])
        prompts = confirm_prompts(settings, loso)
        judged = judgements(settings, prompts, ask=False, judge=saved["confirm"]["judge"])
        if len(judged) < JUDGED_SHARE * len(prompts):
            return False, (f"{len(prompts) - len(judged)} jugements du modèle de langage manquent pour la confirmation "
                           "enregistrée : relancez assistant train-scorer --confirm.")
        again, combined_loso = confirm_stage(loso, judged)
        again["leave_one_set_out"] = by_set(combined_loso)
        for key in ("coef", "intercept", "thresholds", "training", "leave_one_set_out"):
            if json.dumps(again[key]) != json.dumps(saved["confirm"][key]):
                return False, f"La confirmation réentraînée ne redonne pas la même combinaison ({key})."
    return True, f"Le modèle {path} correspond à ses données d'entraînement ({len(rows.y)} phrases, {len(rows.questions)} questions)."
