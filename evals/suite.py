"""`assistant eval`: the real pipeline on the golden set, every metric, one results dict.

Answers come from `assistant.answer.answer()` through the per-configuration cache
(evals/answers.py); deterministic checks (checks.py) and ragas' non-LLM metrics
(ragas_metrics.py) always run; the judge metrics (judge.py) run when a judge endpoint
is configured. A metric that cannot run is listed under `skipped` with the reason; the
others still run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import time
import tomllib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from assistant.settings import PROJECT_DIR, Settings

from . import checks
from .answers import Answered, collect, config_key, is_fallback
from .baseline import naive_useful
from .dataset import CATEGORIES, DatasetError, QuoteLocator, read

# name: (French label, kind, higher is better)
METRICS = {
    "hit_at_1": ("hit@1 (passage de référence en 1re position)", "deterministic", True),
    "hit_at_3": ("hit@3 (parmi les passages donnés au modèle)", "deterministic", True),
    "hit_at_5": ("hit@5 (parmi les passages retrouvés)", "deterministic", True),
    "gold_recall_at_5": ("rappel des citations de référence à 5", "deterministic", True),
    "citation_precision": ("précision des citations", "deterministic", True),
    "numbers_supported": ("nombres appuyés par les passages cités", "deterministic", True),
    "key_facts_recall": ("faits clés présents dans la réponse", "deterministic", True),
    "useful_answer": ("réponse utile : la réponse montrée contient la preuve (questions avec réponse)", "deterministic", True),
    "answer_correct": ("précision des réponses : réponses montrées qui contiennent la preuve", "deterministic", True),
    "refusal_correct": ("refus ou passages à vérifier quand le corpus ne répond pas", "deterministic", True),
    "false_refusal": ("refus à tort (refus ou passages à vérifier)", "deterministic", False),
    "strict_refusal": ("refus franc à tort (hors passages à vérifier)", "deterministic", False),
    "evidence_shown": ("preuve montrée : dans la réponse ou les phrases à vérifier (questions avec réponse)", "deterministic", True),
    "baseline_useful": ("base naïve : 2 meilleures phrases du 1er passage, sans refus", "deterministic", True),
    "answer_french": ("réponse en français", "deterministic", True),
    "context_precision": ("ragas NonLLMContextPrecisionWithReference", "ragas", True),
    "context_recall": ("ragas NonLLMContextRecall", "ragas", True),
    "chrf": ("ragas ChrfScore (réponse / référence)", "ragas", True),
    "semantic_similarity": ("ragas SemanticSimilarity (embeddings du projet)", "ragas", True),
    "faithfulness": ("ragas Faithfulness (juge)", "judge", True),
    "response_relevancy": ("ragas ResponseRelevancy (juge)", "judge", True),
    "factual_correctness": ("ragas FactualCorrectness (juge)", "judge", True),
    "llm_context_precision": ("ragas LLMContextPrecisionWithReference (juge)", "judge", True),
}
DEFAULT_DATASET = PROJECT_DIR / "evals" / "datasets" / "dev.jsonl"
DEFAULT_THRESHOLDS = PROJECT_DIR / "evals" / "thresholds.toml"
DEFAULT_CACHE = PROJECT_DIR / "evals" / "cache"


class EvalError(DatasetError):
    """A request the suite cannot honour (unknown subset or category); the message is French."""


def load_config(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path} : fichier de seuils introuvable.") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path} : TOML invalide ({exc}).") from exc


def select(items, subset: str | None, categories: list[str] | None, limit: int | None, config: dict):
    if subset:
        subsets = config.get("subsets", {})
        if subset not in subsets:
            raise EvalError(f"sous-ensemble « {subset} » inconnu ; définis dans les seuils : "
                            f"{', '.join(sorted(subsets)) or 'aucun'}.")
        wanted = set(subsets[subset])
        missing = wanted - {i.id for i in items}
        if missing:
            raise EvalError(f"sous-ensemble « {subset} » : questions absentes du jeu : {', '.join(sorted(missing))}.")
        items = [i for i in items if i.id in wanted]
    if categories:
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise EvalError(f"catégorie inconnue « {unknown[0]} » ; catégories possibles : {', '.join(CATEGORIES)}.")
        items = [i for i in items if i.category in categories]
    return items[:limit] if limit else items


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_DIR,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head or "inconnu") + ("+modifications" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "inconnu"


def _metadata(settings: Settings, dataset: Path, retriever, judge_on: bool) -> dict:
    import ragas

    from assistant.llm import backend, identity

    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "config_key": config_key(settings),
        "llm": identity(settings),
        "embeddings": retriever.embeddings.identity,
        "index": {"generation": retriever.generation, "collection": retriever.collection.name,
                  "fingerprint": retriever._fingerprint(), "documents": retriever.document_count(),
                  "passages": len(retriever.owned)},
        "dataset": {"path": str(dataset), "sha256": hashlib.sha256(Path(dataset).read_bytes()).hexdigest()[:16]},
        "settings": settings.public(),
        "ragas": ragas.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cœurs",
    }
    weights = backend(settings).weights_sha256  # only a backend that holds its weights knows them
    if weights:
        meta["llm_sha256"] = weights
    if judge_on:
        from .judge import identity as judge_identity

        meta["judge"] = {"url": settings.judge_url, "model": settings.judge_model or "default",
                         "prompts": judge_identity(settings)}
    return meta


def _sample(a: Answered, settings: Settings):
    from .ragas_metrics import Sample

    result = a.result
    answered = not result.get("refused")
    return Sample(
        id=a.item.id, user_input=result.get("standalone_question") or a.item.question,
        response=checks.strip_markers(result.get("answer", "")), reference=a.item.reference_answer,
        retrieved_contexts=[p.text for p in a.passages],
        given_contexts=[p.text for p in a.passages[: settings.answer_passages]],
        reference_contexts=[e["quote"] for e in a.item.evidence], answered=answered,
        answerable=a.item.answerable)


def _row(a: Answered, locator, catalog) -> dict:
    item, result = a.item, a.result
    timings = result.get("timings") or {}
    row = {"id": item.id, "category": item.category, "answerable": item.answerable, "question": item.question,
           "history": item.history, "reference_answer": item.reference_answer, "answer": result.get("answer", ""),
           "refused": bool(result.get("refused")), "refusal_reason": result.get("refusal_reason", ""),
           "error": result.get("error", ""), "backend": result.get("backend", ""), "cached": a.cached,
           "notice": result.get("notice", ""),
           **{name: timings.get(name) for name in ("retrieve_ms", "first_token_ms", "total_ms")},
           # the verifier's work: sentences it removed from the answer, and why
           "removed": [r["reason"].split(":")[0].split(" (")[0].strip() for r in result.get("removed", [])],
           "passages": [{"rank": p.rank, "title": p.meta.get("title", ""), "date": p.meta.get("date", ""),
                         "doc_id": p.meta.get("doc_id", ""), "lines": [p.meta.get("start_line"), p.meta.get("end_line")],
                         "text": p.text} for p in a.passages],
           "gold_quotes": [e["quote"] for e in item.evidence], "scores": {},
           "outcome": result.get("outcome", ""), "probability": result.get("probability")}
    baseline = naive_useful(item, a.passages)
    if baseline is not None:
        row["scores"]["baseline_useful"] = baseline
    details = {}
    for part in (checks.retrieval(item, a.passages, locator, catalog), checks.citations(item, result),
                 checks.key_facts(item, result), checks.refusal(item, result), checks.language(result),
                 checks.decision(item, result)):
        for k, v in part.items():
            (row["scores"] if k in METRICS else details).__setitem__(k, v)
    details.pop("refused", None)
    row["details"] = details
    return row


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 4) if values else None


def risk_coverage(rows: list[dict]) -> dict | None:
    """The risk-coverage curve of a run, by the scorer's probability; a question counts as right when its
    best sentences (shown, or highlighted when not answered) hold the evidence."""
    return checks.risk_coverage([(r["probability"], bool(r["answerable"] and r["details"].get("holds_evidence_best")))
                                 for r in rows if r.get("probability") is not None])


def summarize(rows: list[dict]) -> dict:
    out = {"n": len(rows)}
    for name in METRICS:
        values = [r["scores"][name] for r in rows if name in r["scores"]]
        if values:
            out[name] = _mean(values)
            out[f"{name}__n"] = len(values)
    for name in ("retrieve_ms", "first_token_ms", "total_ms"):  # answers shown, not refusals
        values = [r[name] for r in rows if r.get(name) and not r["refused"]]
        if values:
            out[f"p50_{name}"] = round(statistics.median(values), 1)
    if rows:
        out["outcomes"] = dict(Counter(r.get("outcome") or "?" for r in rows))
        curve = risk_coverage(rows)
        if curve:
            out["aurc"] = curve["aurc"]
        out["guard_fired"] = round(sum(bool(r.get("removed")) for r in rows) / len(rows), 4)
        out["sentences_removed"] = sum(len(r.get("removed", [])) for r in rows)
        out["removal_reasons"] = dict(Counter(reason for r in rows for reason in r.get("removed", [])).most_common())
    return out


def evaluate(settings: Settings, dataset: Path = DEFAULT_DATASET, *, subset: str | None = None,
             categories: list[str] | None = None, limit: int | None = None,
             thresholds: Path = DEFAULT_THRESHOLDS, cache_dir: Path = DEFAULT_CACHE, judge: bool = True,
             judge_metrics: tuple[str, ...] | None = None, refresh: bool = False,
             progress=lambda stage, i, total, label="": None) -> dict:
    """Run the suite; `progress(stage, done, total, label)` is called as it goes."""
    from assistant.retrieve import get_retriever

    from . import ragas_metrics

    started = time.perf_counter()
    config = load_config(thresholds)
    items, dataset_errors = read(dataset)
    items = select(items, subset, categories, limit, config)
    if not items:
        raise EvalError("aucune question à évaluer avec ces filtres.")
    retriever = get_retriever(settings)
    judge_on = bool(judge and settings.judge_url)
    meta = _metadata(settings, dataset, retriever, judge_on)
    meta["selection"] = {"subset": subset or "all", "categories": categories or [], "limit": limit,
                         "questions": len(items)}

    t0 = time.perf_counter()
    answered = collect(settings, items, cache_dir, progress=lambda i, n, label: progress("answers", i, n, label),
                       refresh=refresh)
    answers_s = time.perf_counter() - t0

    locator = QuoteLocator(settings.corpus_dir)
    rows = [_row(a, locator, retriever.catalog) for a in answered]
    by_id = {r["id"]: r for r in rows}
    samples = [_sample(a, settings) for a in answered]

    skipped: dict[str, str] = {}
    runs: dict[str, dict] = {}
    t0 = time.perf_counter()
    metrics = ragas_metrics.build(settings)
    if judge_on:
        from .judge import JUDGE_METRICS
        from .judge import build as build_judge

        try:
            metrics.update(build_judge(settings, judge_metrics or JUDGE_METRICS))
        except Exception as exc:  # e.g. a malformed URL: the deterministic part still runs
            for name in judge_metrics or JUDGE_METRICS:
                skipped[name] = f"juge non configurable ({ragas_metrics.describe(exc)})"
    else:
        reason = ("juge désactivé (--no-judge)" if settings.judge_url else
                  "aucun juge configuré (ASSISTANT_JUDGE_URL vide)")
        for name in judge_metrics or ("faithfulness", "response_relevancy", "factual_correctness",
                                      "llm_context_precision"):
            skipped[name] = reason
    judge_scores, judge_cache = {}, None
    if judge_on and meta.get("judge"):  # judge calls are slow: their scores are kept like the answers
        judge_cache = Path(cache_dir) / f"judge-{meta['config_key']}-{meta['judge']['prompts']}.jsonl"
        if judge_cache.exists() and not refresh:
            for line in judge_cache.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    judge_scores.setdefault(entry["metric"], {})[entry["id"]] = float(entry["score"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue

    def keep(metric_name):
        def write(qid, value):
            with open(judge_cache, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"id": qid, "metric": metric_name, "score": value}) + "\n")
        return write

    for name, (metric, pick) in metrics.items():
        kind = METRICS[name][1]
        timeout = settings.judge_timeout * 6 if kind == "judge" else None
        cached = kind == "judge" and judge_cache is not None
        run = ragas_metrics.run_metric(name, metric, pick, samples, timeout=timeout,
                                       progress=lambda n, i, total: progress("metrics", i, total, n),
                                       done=judge_scores.get(name) if cached else None,
                                       on_score=keep(name) if cached else (lambda qid, value: None))
        runs[name] = run.as_dict()
        for qid, value in run.scores.items():
            by_id[qid]["scores"][name] = round(value, 4)
        for qid, reason in run.errors.items():
            by_id[qid].setdefault("metric_errors", {})[name] = reason
        if run.skipped:
            skipped[name] = run.skipped
        elif run.errors:
            skipped[name] = f"{len(run.errors)} question(s) non notée(s), par ex. {next(iter(run.errors.items()))}"
    metrics_s = time.perf_counter() - t0

    cats = sorted({r["category"] for r in rows}, key=CATEGORIES.index)
    return {
        "meta": meta,
        "dataset_errors": dataset_errors,
        "metrics": {k: {"label": v[0], "kind": v[1], "higher_is_better": v[2]} for k, v in METRICS.items()},
        "skipped": skipped,
        "metric_runs": runs,
        "overall": summarize(rows),
        "categories": {c: summarize([r for r in rows if r["category"] == c]) for c in cats},
        "rows": rows,
        "timings": {"answers_s": round(answers_s, 1), "metrics_s": round(metrics_s, 1),
                    "total_s": round(time.perf_counter() - started, 1),
                    "fallbacks": sum(is_fallback(settings, a.result) for a in answered),
                    "answered_now": sum(not a.cached for a in answered),
                    "from_cache": sum(a.cached for a in answered)},
    }
