"""Answer benchmark with deterministic checks (no LLM judge).

Per question: refusal (right or wrong), key facts of the reference present in the answer,
numbers in the answer absent from its cited passages, citation support, whether the
verifier removed sentences (the guard firing), latency. Answers are cached per question
and configuration in a JSONL file, so an interrupted run resumes; `collect` is shared
with the full suite (`assistant eval`, evals/suite.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answer import answer, clean_history
from assistant.errors import AssistantError
from assistant.lexical import fold
from assistant.retrieve import Result, get_retriever
from assistant.settings import Settings
from assistant.verify import numbers, support

from .dataset import Item, load

_MARKERS = re.compile(r"\[\d{1,2}\]")


def _norm(text: str) -> str:
    text = fold(text)
    text = re.sub(r"(?<=\d)[ .\u00a0\u202f](?=\d{3}\b)", "", text)
    return re.sub(r"\s+", " ", text)


# Settings that do not change an answer (where files live, the web app, the eval judge):
# leaving them out keeps cached answers valid when only they change.
_NOT_ANSWER_SETTINGS = {
    "corpus_dir", "index_dir", "prompts_dir", "models_dir", "app_host", "app_port", "admin_token", "auth",
    "data_dir", "upload_max_mb", "rate_limit_per_minute", "judge_url", "judge_model", "judge_api_key",
    "judge_timeout",
}


def config_key(settings: Settings) -> str:
    """Identity of everything that shapes an answer: settings, LLM, prompts' text."""
    from assistant.llm import identity

    keep = {k: v for k, v in settings.public().items() if k not in _NOT_ANSWER_SETTINGS}
    prompts = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(settings.prompts_dir).glob("*.md")))
    raw = json.dumps([keep, identity(settings), prompts], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


@dataclass
class Answered:
    """One question run through the pipeline: its answer (as_dict) and the passages it retrieved."""

    item: Item
    result: dict
    passages: list[Result] = field(default_factory=list)
    cached: bool = False


def _passage_refs(results: list[Result]) -> list[dict]:
    return [{"chunk_id": r.chunk_id, "score": r.score, "also_in": r.also_in} for r in results]


def _passages(retriever, refs, item: Item, result: dict, settings: Settings) -> list[Result]:
    """The ranked passages the answer was built on: from the cache, else the same search again."""
    if refs is not None and all(r["chunk_id"] in retriever.catalog for r in refs):
        return [Result(n, ref["score"], ref["chunk_id"], retriever.catalog[ref["chunk_id"]]["display"],
                       retriever.catalog[ref["chunk_id"]], also_in=[a for a in ref["also_in"] if a in retriever.catalog],
                       catalog=retriever.catalog) for n, ref in enumerate(refs, 1)]
    question = result.get("standalone_question") or item.question
    try:  # the answer path's search is deterministic: same question, same history, same passages
        return retriever.search(question, k=max(settings.top_k, settings.answer_passages),
                                history=clean_history(item.history))
    except AssistantError:
        return []


def is_fallback(settings: Settings, result: dict) -> bool:
    """The LLM failed (timeout, crash, server down) and the extractive answer stood in."""
    return settings.llm_backend != "extractive" and result.get("backend") == "extractive"


def cache_path(settings: Settings, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"answers-{config_key(settings)}.jsonl"


def collect(settings: Settings, items: list[Item], cache_dir: Path,
            progress=lambda *a: None, refresh: bool = False) -> list[Answered]:
    """Answer every item with the real pipeline, reusing (and appending to) the per-configuration cache.

    `refresh`: answer again; the new lines are appended and, being later, win on the next read.
    """
    path = cache_path(settings, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    cached: dict[str, dict] = {}
    if path.exists() and not refresh:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                cached[entry["id"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by an interrupted run: that question is answered again
    retriever = get_retriever(settings)
    out = []
    with open(path, "a", encoding="utf-8") as handle:
        for i, item in enumerate(items, 1):
            entry = cached.get(item.id)
            if (entry is not None and entry.get("result", {}).get("question") == item.question
                    and not is_fallback(settings, entry["result"])):
                result = entry["result"]
                out.append(Answered(item, result, _passages(retriever, entry.get("passages"), item, result, settings), True))
            else:
                try:
                    got = answer(item.question, item.history, settings)
                    result, passages = got.as_dict(), got.passages
                    result["raw"] = got.raw  # the model's text before the verifier: lets a changed verifier be replayed
                except AssistantError as exc:
                    result = {"question": item.question, "answer": "", "refused": True, "citations": [],
                              "timings": {}, "error": str(exc)}
                    passages = []
                if not is_fallback(settings, result):  # a timeout says how busy the machine was, not the config
                    handle.write(json.dumps({"id": item.id, "result": result, "passages": _passage_refs(passages)},
                                            ensure_ascii=False) + "\n")
                    handle.flush()
                out.append(Answered(item, result, passages))
            progress(i, len(items), item.id)
    return out


def score_item(item, result: dict) -> dict:
    refused = result["refused"]
    text = _MARKERS.sub(" ", result["answer"])
    cited_text = " ".join(c["text"] for c in result["citations"])
    facts = [f for f in item.key_facts if f]
    found = [f for f in facts if _norm(f) in _norm(text)]
    invented = sorted(numbers(text) - numbers(cited_text)) if not refused else []
    pairs = ok = 0
    for c in result["citations"]:
        for sentence in c.get("sentences", []):
            pairs += 1
            ok += support(sentence, c["text"])[0]
    return {
        "id": item.id, "category": item.category, "answerable": item.answerable, "refused": refused,
        "key_facts": len(facts), "key_facts_found": len(found), "invented_numbers": invented,
        "citation_pairs": pairs, "citation_ok": ok, "guard_removed": len(result.get("removed", [])),
        "guard_reasons": [r["reason"].split(":")[0].split(" (")[0].strip() for r in result.get("removed", [])],
        "first_token_ms": result["timings"].get("first_token_ms"), "total_ms": result["timings"].get("total_ms"),
        "retrieve_ms": result["timings"].get("retrieve_ms"), "backend": result.get("backend", ""),
        "notice": result.get("notice", ""),
    }


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def summarize(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["refused"]]
    facts = sum(r["key_facts"] for r in answerable)
    pairs = sum(r["citation_pairs"] for r in rows)
    return {
        "n": len(rows),
        "refusal_on_unanswerable": round(sum(r["refused"] for r in unanswerable) / len(unanswerable), 3) if unanswerable else None,
        "false_refusal": round(sum(r["refused"] for r in answerable) / len(answerable), 3) if answerable else None,
        "key_facts_recall": round(sum(r["key_facts_found"] for r in answerable) / facts, 3) if facts else None,
        "key_facts_recall_answered": round(sum(r["key_facts_found"] for r in answered) / max(1, sum(r["key_facts"] for r in answered)), 3) if answered else None,
        "citation_precision": round(sum(r["citation_ok"] for r in rows) / pairs, 3) if pairs else None,
        "answers_with_invented_numbers": sum(1 for r in rows if r["invented_numbers"]),
        "guard_fired": round(sum(1 for r in rows if r["guard_removed"]) / len(rows), 3) if rows else None,
        "sentences_removed": sum(r["guard_removed"] for r in rows),
        "removal_reasons": dict(Counter(reason for r in rows for reason in r["guard_reasons"])),
        "fallbacks": sum(1 for r in rows if r["backend"] == "extractive" and "n'a pas pu" in r["notice"]),
        "p50_retrieve_ms": _median(r["retrieve_ms"] for r in rows),
        "p50_first_token_ms": _median(r["first_token_ms"] for r in rows),
        "p50_total_ms": _median(r["total_ms"] for r in rows if not r["refused"]),
    }


def run(settings: Settings, dataset: Path, cache_dir: Path, limit: int | None = None,
        categories: list[str] | None = None, progress=lambda *a: None) -> dict:
    items = [i for i in load(dataset) if not categories or i.category in categories]
    if limit:
        items = items[:limit]
    rows = [score_item(a.item, a.result) for a in collect(settings, items, cache_dir, progress)]
    by_cat = {c: summarize([r for r in rows if r["category"] == c]) for c in sorted({r["category"] for r in rows})}
    return {"config": config_key(settings), "cache": str(cache_path(settings, cache_dir)), "overall": summarize(rows),
            "categories": by_cat, "rows": rows}


def format_table(result: dict) -> str:
    cols = ["n", "refusal_on_unanswerable", "false_refusal", "key_facts_recall", "citation_precision",
            "answers_with_invented_numbers", "guard_fired", "p50_first_token_ms", "p50_total_ms"]
    lines = ["| catégorie | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, s in [("TOUT", result["overall"])] + list(result["categories"].items()):
        lines.append(f"| {name} | " + " | ".join("–" if s.get(c) is None else str(s.get(c)) for c in cols) + " |")
    lines.append("")
    lines.append(f"Raisons des phrases retirées : {result['overall']['removal_reasons']}")
    return "\n".join(lines)
