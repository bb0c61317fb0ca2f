"""Retrieval benchmark: hit@1/3/5, MRR@k and recall of all gold passages, per category and mode;
`context`: a gold quote is in the passages the answer step is given; `sentence`: one of their
sentences holds the evidence (checks.holds_evidence).

A retrieved passage counts as gold when it covers at least half of a gold quote's span
(or 100 characters of it) in any document that holds the quote, including the other
documents folded into it as near-duplicates.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from assistant.retrieve import Retriever, get_retriever
from assistant.settings import Settings

from .dataset import QuoteLocator, _hits, gold_found, hit_at, load


def _given(retriever: Retriever, item, settings: Settings, mode: str) -> list:
    """The passages the answer step receives for this question: the answer path's own query
    (follow-ups rewritten without a model) and its own number of passages."""
    from assistant.answer import rewrite_question

    standalone = rewrite_question(item.question, item.history, None, settings)
    results = retriever.search(standalone, k=max(settings.top_k, settings.answer_passages), mode=mode,
                               history=item.history)
    return results[: settings.answer_passages]


def evaluate_mode(retriever: Retriever, items, locator: QuoteLocator, mode: str, k: int,
                  settings: Settings) -> list[dict]:
    from assistant.candidates import split

    from .checks import holds_evidence

    rows = []
    for item in items:
        spans = [locator.spans(e["quote"]) for e in item.evidence]
        started = time.perf_counter()
        results = retriever.search(item.question, k=k, mode=mode, history=item.history)
        elapsed = (time.perf_counter() - started) * 1000
        first, recall5 = gold_found(results, spans, retriever.catalog, 5)
        given = _given(retriever, item, settings, mode)
        in_context = set().union(*(_hits(r, spans, retriever.catalog) for r in given)) if given else set()
        quotes = [e["quote"] for e in item.evidence]
        rows.append({
            "id": item.id, "category": item.category, "rank": first,
            "recall5": recall5, "ms": round(elapsed, 1),
            # Evidence in what the answer step is given, and whether one of its candidate
            # sentences holds it (the ceiling of any sentence-level answer decision).
            "context": float(bool(in_context)),
            "sentence": float(any(holds_evidence(s, quotes) for r in given for s in split(r.text))),
        })
    return rows


def summarize(rows: list[dict], k: int) -> dict:
    n = len(rows)
    if not n:
        return {"n": 0}
    ranks = [r["rank"] for r in rows]
    return {
        "n": n,
        **{f"hit@{at}": sum(hit_at(x, at) for x in ranks) / n for at in (1, 3, 5)},
        f"mrr@{k}": sum(1 / x for x in ranks if x) / n,
        "recall@5": sum(r["recall5"] for r in rows) / n,
        "context": sum(r["context"] for r in rows) / n,
        "sentence": sum(r["sentence"] for r in rows) / n,
        "p50_ms": statistics.median(r["ms"] for r in rows),
    }


def run(settings: Settings, dataset: Path, k: int = 10, modes=("dense", "lexical", "hybrid")) -> dict:
    items = [i for i in load(dataset) if i.answerable and i.evidence]
    locator = QuoteLocator(settings.corpus_dir)
    retriever = get_retriever(settings)
    out = {"dataset": str(dataset), "questions": len(items), "k": k, "modes": {}}
    for mode in modes:
        rows = evaluate_mode(retriever, items, locator, mode, k, settings)
        by_cat = {}
        for cat in sorted({r["category"] for r in rows}):
            by_cat[cat] = summarize([r for r in rows if r["category"] == cat], k)
        out["modes"][mode] = {"overall": summarize(rows, k), "categories": by_cat, "rows": rows}
    return out


def format_table(result: dict) -> str:
    k = result["k"]
    cols = ["n", "hit@1", "hit@3", "hit@5", f"mrr@{k}", "recall@5", "context", "sentence", "p50_ms"]
    lines = [f"Jeu : {result['dataset']} ({result['questions']} questions avec preuves)", ""]
    lines.append("| mode | catégorie | " + " | ".join(cols) + " |")
    lines.append("|" + "---|" * (len(cols) + 2))
    for mode, data in result["modes"].items():
        for cat, summary in [("TOUT", data["overall"])] + list(data["categories"].items()):
            cells = [f"{summary[c]:.3f}" if isinstance(summary[c], float) else str(summary[c]) for c in cols]
            lines.append(f"| {mode} | {cat} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
