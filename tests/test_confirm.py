"""The LLM confirmation (assistant/confirm.py): its combination with the scorer's confidence, the
real local model's yes/no reading, and the answer path with ASSISTANT_CONFIRM=on."""

import json
from dataclasses import replace

import numpy as np
import pytest

from assistant import confirm
from assistant.answer import NOTICE_OTHER_JUDGE, NOTICE_UNCONFIRMED, answer, explain, get_scorer
from assistant.llm import get_chat_model, identity
from assistant.outcome import Outcome
from assistant.settings import PROJECT_DIR, Settings

from .conftest import ANSWERED, free_port

ANSWER_SENTENCE = "Dans l'Aude (11), 400 allocataires du RSA travaillent chaque année dans les chantiers d'insertion."
SAME_SUBJECT = "Le Département de l'Aude soutient les chantiers d'insertion pour les allocataires du RSA."


def test_the_combination_rises_with_both_inputs_and_refits_identically():
    rng = np.random.default_rng(0)
    conf, p_yes = rng.uniform(0.05, 0.95, 200), rng.uniform(0.05, 0.95, 200)
    correct = rng.uniform(size=200) < (conf + p_yes) / 2
    model = confirm.fit(list(conf), list(p_yes), list(correct))
    assert model == confirm.fit(list(conf), list(p_yes), list(correct))
    assert all(c > 0 for c in model["coef"])
    assert confirm.combined(model, 0.6, 0.7) > confirm.combined(model, 0.6, 0.3)
    assert confirm.combined(model, 0.8, 0.5) > confirm.combined(model, 0.3, 0.5)
    assert 0.0 < confirm.combined(model, 0.0, 1.0) < 1.0  # extreme inputs are clipped, never infinite


def test_the_prompt_lists_the_sentences_and_its_key_follows_them():
    prompts = Settings().prompts_dir
    system, user = confirm.messages(prompts, ANSWERED, [ANSWER_SENTENCE, SAME_SUBJECT])
    assert f"- {ANSWER_SENTENCE}\n- {SAME_SUBJECT}" in user and ANSWERED in user and "oui ou par non" in user
    assert confirm.key(system, user) == confirm.key(*confirm.messages(prompts, ANSWERED, [ANSWER_SENTENCE, SAME_SUBJECT]))
    assert confirm.key(system, user) != confirm.key(*confirm.messages(prompts, ANSWERED, [ANSWER_SENTENCE]))


@pytest.fixture(scope="module")
def confirming(seed_index):
    return replace(seed_index[0], models_dir=PROJECT_DIR / "models", llm_backend="llama", confirm="on")


def test_the_local_model_says_yes_to_the_answer_more_than_to_the_same_subject(confirming):
    model = get_chat_model(confirming)
    yes = confirm.yes_probability(confirming, model, *confirm.messages(confirming.prompts_dir, ANSWERED,
                                                                       [ANSWER_SENTENCE]), timeout=60)
    same = confirm.yes_probability(confirming, model, *confirm.messages(confirming.prompts_dir, ANSWERED,
                                                                        [SAME_SUBJECT]), timeout=60)
    assert 0.0 < same < yes < 1.0, (yes, same)


def test_a_confirmed_answer_keeps_its_citations_and_says_how_long_the_model_took(confirming):
    assert get_scorer(confirming).confirm, "the saved scorer has no confirmation: assistant train-scorer --confirm"
    result = answer(ANSWERED, settings=confirming)
    assert result.outcome is Outcome.ANSWER and "400" in result.answer and result.citations, result.as_dict()
    assert result.timings["confirm_ms"] > 0 and not result.notice
    scorer = get_scorer(confirming)
    shown = explain(ANSWERED, settings=confirming)
    reading = shown["confirmation"]
    # The decision compares the combination of the scorer's confidence and the model's reading, nothing else.
    assert reading["combined"] == pytest.approx(confirm.combined(scorer.confirm, shown["confidence"], reading["p_yes"]),
                                                abs=2e-4)
    assert result.probability == pytest.approx(reading["combined"], abs=2e-4)
    assert result.probability >= scorer.confirm["thresholds"]["answer"]


def test_a_model_that_cannot_answer_leaves_the_scorer_s_decision_with_a_notice(seed_index, tmp_path):
    down = replace(seed_index[0], llm_backend="openai", llm_url=f"http://127.0.0.1:{free_port()}/v1", confirm="on",
                   llm_timeout=5)
    model = json.loads(down.scorer_path.read_text(encoding="utf-8"))
    model["confirm"]["judge"] = identity(down)  # as if fitted on that server's readings
    (tmp_path / "scorer.json").write_text(json.dumps(model), encoding="utf-8")
    result = answer(ANSWERED, settings=replace(down, scorer_path=tmp_path / "scorer.json"))
    plain = answer(ANSWERED, settings=replace(seed_index[0], llm_backend="extractive"))
    assert NOTICE_UNCONFIRMED in result.notice and "confirm_ms" not in result.timings
    assert (result.outcome, result.answer, result.probability) == (plain.outcome, plain.answer, plain.probability)


def test_a_scorer_trained_without_confirmation_says_so(confirming, tmp_path):
    model = json.loads(confirming.scorer_path.read_text(encoding="utf-8"))
    model.pop("confirm", None)
    path = tmp_path / "scorer.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    result = answer(ANSWERED, settings=replace(confirming, scorer_path=path))
    assert NOTICE_UNCONFIRMED in result.notice and result.outcome is Outcome.ANSWER


def test_a_confirmation_fitted_on_another_model_s_readings_is_not_used(confirming, tmp_path):
    model = json.loads(confirming.scorer_path.read_text(encoding="utf-8"))
    model["confirm"]["judge"] = "openai:another-model@http://example.invalid/v1"
    path = tmp_path / "scorer.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    result = answer(ANSWERED, settings=replace(confirming, scorer_path=path))
    assert NOTICE_OTHER_JUDGE in result.notice and "confirm_ms" not in result.timings
    assert result.outcome is Outcome.ANSWER and "400" in result.answer
