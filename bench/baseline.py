"""Our pipeline side by side with the LangChain + Chroma tutorial pipeline, in one run.

    .venv/bin/python -m bench.baseline [--every 6] [--no-answers]

The baseline is what the tutorials build: files read as plain text, a recursive splitter
with the tutorials' sizes (1,000 characters, 200 overlap), dense-only retrieval from
Chroma, a "stuff" prompt (all retrieved text, then the question), the model's text shown
as is. It uses the same embeddings and the same local LLM as ours.

Both systems are scored the same way, from text only, with the evaluation's own measures
(evals/checks.py):
- hit@5: a gold quote of the question is in one of the 5 passages retrieved (`quote_in`, the
  citation check's rule; before 2026-12-01 this bench used half of the quote's word 5-grams),
  over all answerable development questions;
- answers (every N-th development question, LLM in the loop): refusal on unanswerable
  questions, false refusals, key facts present, and the share of answers that contain a
  number absent from every passage the model was given (an invented number).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from assistant.answer import answer
from assistant.embed import get_embeddings
from assistant.llm import generation_lock, get_chat_model
from assistant.retrieve import get_retriever
from assistant.settings import PROJECT_DIR, get_settings
from assistant.verify import is_model_refusal, numbers
from evals.checks import found_facts, quote_in
from evals.dataset import load

from .common import RESULTS, write

BASELINE_PROMPT = (
    "Tu es un assistant qui répond à des questions. Appuie-toi sur les éléments de contexte ci-dessous "
    "pour répondre. Si tu ne connais pas la réponse, dis simplement que tu ne sais pas. "
    "Trois phrases au plus, réponse concise.\n\nContexte :\n{context}\n\nQuestion : {question}\n\nRéponse :"
)
_DONT_KNOW = ("je ne sais pas", "je ne connais pas", "ne permet pas", "ne permettent pas", "pas d'information",
              "aucune information", "ne contient pas", "ne mentionne pas", "ne précise pas")


class Baseline:
    def __init__(self, settings, tmp: Path):
        from langchain_chroma import Chroma
        from langchain_community.document_loaders import TextLoader
        from langchain_text_splitters import RecursiveCharacterTextSplitter
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        docs = []
        for path in sorted(settings.corpus_dir.glob("*.txt")):
            docs += TextLoader(str(path), encoding="utf-8").load()
        splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
        client = chromadb.PersistentClient(path=str(tmp / "baseline"), settings=ChromaSettings(anonymized_telemetry=False))
        started = time.perf_counter()
        self.store = Chroma.from_documents(splits, embedding=get_embeddings(settings), client=client,
                                           collection_name="baseline")
        self.build_s = time.perf_counter() - started
        self.chunks = len(splits)
        self.retriever = self.store.as_retriever(search_kwargs={"k": 5})
        self.settings = settings

    def search(self, question: str) -> list[str]:
        return [d.page_content for d in self.retriever.invoke(question)]

    def answer(self, question: str) -> tuple[str, list[str], float]:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        started = time.perf_counter()
        passages = self.search(question)
        chain = ChatPromptTemplate.from_messages([("human", BASELINE_PROMPT)]) | get_chat_model(self.settings) | StrOutputParser()
        with generation_lock:
            text = chain.invoke({"context": "\n\n".join(passages), "question": question})
        return text.strip(), passages, time.perf_counter() - started


def score(item, text: str, refused: bool, given: list[str]) -> dict:
    bare = re.sub(r"\[\d{1,2}\]", " ", text)
    facts = [f for f in item.key_facts if f]
    context = " ".join(given)
    invented = sorted(numbers(bare) - numbers(context) - numbers(item.question)) if not refused else []
    return {"id": item.id, "category": item.category, "answerable": item.answerable, "refused": refused,
            "facts": len(facts), "facts_found": len(found_facts(facts, bare)),
            "invented": invented}


def summary(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    answered = [r for r in rows if not r["refused"]]
    facts = sum(r["facts"] for r in ans)
    return {
        "n": len(rows),
        "refusal_on_unanswerable": round(sum(r["refused"] for r in una) / len(una), 3) if una else None,
        "false_refusal": round(sum(r["refused"] for r in ans) / len(ans), 3) if ans else None,
        "key_facts": round(sum(r["facts_found"] for r in ans) / facts, 3) if facts else None,
        "answers_with_invented_number": round(sum(bool(r["invented"]) for r in answered) / len(answered), 3) if answered else None,
        "median_s": round(sorted(r["seconds"] for r in rows)[len(rows) // 2], 1) if rows else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=6, help="une question sur N pour les réponses")
    parser.add_argument("--no-answers", action="store_true", help="recherche seulement (sans LLM)")
    args = parser.parse_args()
    settings = get_settings()
    items = load(PROJECT_DIR / "evals" / "datasets" / "dev.jsonl")
    ours = get_retriever(settings)
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        base = Baseline(settings, Path(tmp))
        hits = {"ours": 0, "baseline": 0}
        answerable = [i for i in items if i.answerable and i.evidence]
        for item in answerable:
            quotes = [e["quote"] for e in item.evidence]
            our_texts = []
            for r in ours.search(item.question, k=5, history=item.history):
                our_texts += [r.text] + [ours.catalog[c]["display"] for c in r.also_in]
            hits["ours"] += any(quote_in(q, t) for q in quotes for t in our_texts)
            hits["baseline"] += any(quote_in(q, t) for q in quotes for t in base.search(item.question))
        hit5 = {k: round(v / len(answerable), 3) for k, v in hits.items()}
        print(f"hit@5 : nous {hit5['ours']}, tutoriel {hit5['baseline']} ({len(answerable)} questions)", flush=True)

        rows = {"ours": [], "baseline": []}
        cache = RESULTS / "baseline-cache.jsonl"
        done = {}
        if cache.exists():
            for line in cache.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                done[(rec["system"], rec["id"], rec["key"])] = rec
        key = f"{settings.llm_backend}-{time.strftime('%Y%m%d')}"
        subset = [] if args.no_answers else items[:: args.every]
        RESULTS.mkdir(parents=True, exist_ok=True)
        for n, item in enumerate(subset, 1):
            for system in ("baseline", "ours"):
                rec = done.get((system, item.id, key))
                if rec is None:
                    if system == "baseline":
                        text, given, seconds = base.answer(item.question)
                        refused = is_model_refusal(text) or any(h in text.lower() for h in _DONT_KNOW) or not text
                    else:
                        started = time.perf_counter()
                        result = answer(item.question, item.history, settings)
                        seconds = time.perf_counter() - started
                        text, refused = result.answer, result.refused
                        given = [p.text for p in result.passages[: settings.answer_passages]]
                    rec = {"system": system, "id": item.id, "key": key, "text": text, "refused": refused,
                           "given": given, "seconds": round(seconds, 1)}
                    with cache.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                row = score(item, rec["text"], rec["refused"], rec["given"])
                row["seconds"] = rec["seconds"]
                rows[system].append(row)
            print(f"  {n}/{len(subset)} {item.id}", flush=True)

    sums = {s: summary(r) for s, r in rows.items()} if subset else {}
    payload = {"hit5": hit5, "answerable_questions": len(answerable), "baseline_chunks": base.chunks,
               "baseline_build_s": round(base.build_s, 1), "answers": sums,
               "rows": rows, "subset_every": args.every}
    table = [["recherche hit@5", hit5["ours"], hit5["baseline"], round(hit5["ours"] - hit5["baseline"], 3)]]
    for metric, label in (("answers_with_invented_number", "réponses avec un nombre inventé"),
                          ("refusal_on_unanswerable", "refus sur questions sans réponse"),
                          ("false_refusal", "refus à tort"), ("key_facts", "faits clés présents"),
                          ("median_s", "durée médiane (s)")):
        if sums:
            a, b = sums["ours"][metric], sums["baseline"][metric]
            table.append([label, a, b, None if a is None or b is None else round(a - b, 3)])
    write("baseline", payload, ["mesure", "notre pipeline", "tutoriel LangChain", "écart"], table)


if __name__ == "__main__":
    main()
