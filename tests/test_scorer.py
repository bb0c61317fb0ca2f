"""The decision model: reproducible training, and the saved file matching its training data."""

import json

import numpy as np

import pytest

from assistant.features import FEATURE_NAMES, AnswerType
from assistant.scorer import DEFAULT_PATH, QUESTION_FEATURES, Scorer, ScorerError, fit, fit_question, question_row, rows_hash


def test_training_is_reproducible_and_the_saved_model_matches_its_training_data(seed_index):
    from evals.train import build_rows

    saved = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    rows = build_rows(seed_index[0])  # the development sets through the answer path, on a fresh seed index
    assert len(rows.y) == saved["training"]["rows"] and int(rows.y.sum()) == saved["training"]["positives"]
    assert len(rows.questions) == saved["training"]["questions"]
    from evals.train import fitted

    first, _ = fitted(rows, folds=saved["folds"], C=saved["C"])
    second, _ = fitted(rows, folds=saved["folds"], C=saved["C"])
    assert first == second  # deterministic: same rows, same numbers, both models and the bars
    if rows.sha == saved["training"]["rows_sha256"]:
        for key in ("mean", "scale", "coef", "intercept", "calibration", "question", "thresholds"):
            assert first[key] == saved[key], key
    else:  # an approximate-neighbour tie may reorder a passage: the models must still be the same ones
        assert np.allclose(first["coef"], saved["coef"], atol=0.05), "scorer.json is stale: assistant train-scorer"
        assert np.allclose(first["question"]["coef"], saved["question"]["coef"], atol=0.1), "scorer.json is stale"
    # The LLM confirmation refits from its stored judgements (assistant/data/confirm_judgements.jsonl)
    # to the same combination and bars; a prompt never judged means the file is stale.
    from evals.train import JUDGED_SHARE, by_set, confirm_prompts, confirm_stage, judgements, loso_questions

    loso = loso_questions(rows, folds=saved["folds"], C=saved["C"])
    prompts = confirm_prompts(seed_index[0], loso)
    judged = judgements(seed_index[0], prompts, ask=False, judge=saved["confirm"]["judge"])
    assert len(judged) >= JUDGED_SHARE * len(prompts), "judgements missing: assistant train-scorer --confirm"
    again, combined_loso = confirm_stage(loso, judged)
    if rows.sha == saved["training"]["rows_sha256"]:
        assert by_set(combined_loso) == saved["confirm"]["leave_one_set_out"]  # the published figures
        for key in ("coef", "intercept", "thresholds", "training"):
            assert again[key] == saved["confirm"][key], key
    else:
        assert np.allclose(again["coef"], saved["confirm"]["coef"], atol=0.05), "confirmation is stale"


def test_a_scorer_file_with_a_malformed_confirmation_is_refused(tmp_path):
    model = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    for broken in ({"coef": [1, 2]}, [], {**model["confirm"], "thresholds": {"answer": 0.8, "check": 0.2, "x": 1}}):
        path = tmp_path / "scorer.json"
        path.write_text(json.dumps({**model, "confirm": broken}), encoding="utf-8")
        with pytest.raises(ScorerError, match="corrompu"):
            Scorer.load(path)


def test_probabilities_are_calibrated_monotone_and_explained():
    scorer = Scorer.load()
    X = np.tile(scorer.mean, (3, 1))
    # A sentence holding more of the question's words, by every coverage measure at once (they are
    # correlated, so one alone may carry a small weight of either sign).
    for name, values in (("coverage", [0.0, 0.5, 1.0]), ("idf_coverage", [0.0, 0.5, 1.0]),
                         ("neighbour_coverage", [0.0, 0.5, 1.0]), ("coverage_rank", [0.1, 0.5, 1.0]),
                         ("coverage_gap", [1.0, 0.5, 0.0])):
        X[:, scorer.features.index(name)] = values
    p = scorer.proba(X)
    assert np.all((p > 0) & (p < 1)) and p[0] < p[1] < p[2]  # more of the question's words, more likely
    parts = scorer.explain(X[2])
    assert {name for name, _, _ in parts} == set(scorer.features)
    assert abs(sum(c for _, _, c in parts) + scorer.intercept - scorer.margin(X[2:3])[0]) < 1e-9
    assert 0 < scorer.thresholds["check"] <= scorer.thresholds["answer"] < 1


def test_rows_hash_changes_with_labels():
    X = np.ones((2, 3))
    assert rows_hash(X, np.array([0, 1]), ["a", "b"]) != rows_hash(X, np.array([1, 1]), ["a", "b"])


def test_risk_coverage_area_rewards_confident_right_answers():
    from evals.checks import risk_coverage

    good = risk_coverage([(0.9, True), (0.8, True), (0.2, False), (0.1, False)])
    bad = risk_coverage([(0.9, False), (0.8, False), (0.2, True), (0.1, True)])
    assert good["aurc"] < bad["aurc"] and good["risk"][:2] == [0.0, 0.0] and bad["risk"][0] == 1.0
    assert good["coverage"][-1] == 1.0 and risk_coverage([]) is None


def test_the_question_model_reads_the_best_sentence_and_scales_the_confidence():
    scorer = Scorer.load()
    X = np.tile(scorer.mean, (3, 1))
    X[1, scorer.features.index("idf_coverage")] = 1.0
    p = np.array([0.2, 0.7, 0.1])
    row = question_row(X, p, AnswerType.COUNT)
    assert len(row) == len(QUESTION_FEATURES) == len(scorer.q_features)
    assert row[QUESTION_FEATURES.index("best_idf_coverage")] == 1.0  # the most probable sentence's row
    assert row[QUESTION_FEATURES.index("asks_count")] == 1.0 and row[QUESTION_FEATURES.index("asks_amount")] == 0.0
    answerable = scorer.answerable(X, p, AnswerType.COUNT)
    assert 0 < answerable < 1 and scorer.confidence(X, p, AnswerType.COUNT) == pytest.approx(answerable * 0.7)
    parts = scorer.explain_question(X, p, AnswerType.COUNT)
    assert {n for n, _, _ in parts} == set(QUESTION_FEATURES)
    logit = sum(c for _, _, c in parts) + scorer.q_intercept
    assert 1 / (1 + np.exp(-logit)) == pytest.approx(answerable)
    assert scorer.confidence(np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), AnswerType.OTHER) == 0.0


def test_the_question_model_learns_which_questions_have_an_answer_deterministically():
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(200, len(QUESTION_FEATURES)))
    y = (Q[:, 0] > 0).astype(int)  # one input decides
    first, second = fit_question(Q, y), fit_question(Q, y)
    assert first == second and first["features"] == QUESTION_FEATURES
    assert abs(first["coef"][0]) == max(abs(c) for c in first["coef"]) and first["coef"][0] > 0


def test_a_scorer_file_without_its_question_model_is_refused(tmp_path):
    model = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    del model["question"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    with pytest.raises(ScorerError, match="corrompu"):
        Scorer.load(path)
