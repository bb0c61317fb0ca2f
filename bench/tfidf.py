"""The naive retrieval baseline #17 measures against: TF-IDF over fixed 1,000-character chunks.

    .venv/bin/python -m bench.tfidf [--dataset evals/datasets/heldout4.jsonl ...]

Files are read as plain text and cut every 1,000 characters (no overlap, no cleaning, no
metadata); a question is the TF-IDF cosine of its words against each chunk (scikit-learn,
accents kept, no stemming). Scored as `assistant eval-retrieval` scores ours: a chunk is gold
when it covers half of a gold quote's span (evals/retrieval.py); `context` is a gold quote
inside the first 2,000 characters (the two best chunks), the size of our answer context.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from assistant.settings import get_settings
from evals.dataset import QuoteLocator, load
from evals.dataset import _covers, hit_at

from .common import write

SIZE = 1000


def chunks(corpus: Path) -> list[dict]:
    out = []
    for path in sorted(corpus.rglob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(corpus).as_posix()
        for start in range(0, len(text), SIZE):
            out.append({"doc_id": rel, "start": start, "end": min(len(text), start + SIZE),
                        "text": text[start : start + SIZE]})
    return out


def evaluate(dataset: Path, corpus: Path, k: int = 10) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    parts = chunks(corpus)
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    matrix = vectorizer.fit_transform([c["text"] for c in parts])
    locator = QuoteLocator(corpus)
    items = [i for i in load(dataset) if i.answerable and i.evidence]
    ranks, context = [], []
    for item in items:
        question = " ".join([t["content"] for t in item.history if t.get("role") == "user"][-1:] + [item.question])
        scores = (matrix @ vectorizer.transform([question]).T).toarray().ravel()
        order = scores.argsort()[::-1][:k]
        spans = [s for e in item.evidence for s in locator.spans(e["quote"])]
        gold = [rank for rank, i in enumerate(order, 1) if any(_covers(parts[i], s) for s in spans)]
        ranks.append(gold[0] if gold else None)
        context.append(hit_at(ranks[-1], 2))
    n = len(items)
    return {"dataset": str(dataset), "questions": n, "chunks": len(parts),
            "hit@5": sum(hit_at(r, 5) for r in ranks) / n, f"mrr@{k}": sum(1 / r for r in ranks if r) / n,
            "context": sum(context) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", type=Path)
    args = parser.parse_args()
    corpus = get_settings().corpus_dir
    rows = [evaluate(d, corpus) for d in (args.dataset or [Path("evals/datasets/dev.jsonl")])]
    for r in rows:
        print(f"{r['dataset']}: {r['questions']} questions, hit@5 {r['hit@5']:.3f}, "
              f"MRR@10 {r['mrr@10']:.3f}, context {r['context']:.3f}")
    write("tfidf", {"runs": rows}, ["jeu", "questions", "hit@5", "MRR@10", "contexte (2 000 car.)"],
          [[r["dataset"], r["questions"], f"{r['hit@5']:.3f}", f"{r['mrr@10']:.3f}", f"{r['context']:.3f}"]
           for r in rows])


if __name__ == "__main__":
    main()
