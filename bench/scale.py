"""Search latency and index size at 1x, 10x and 100x the seed corpus.

    .venv/bin/python -m bench.scale [--factors 1 10 100] [--passes 2]

The scale corpus is generated from the seed documents into bench/scale-corpus/xN/ (kept
out of git, regenerated on demand): N copies of each seed document, each copy after the
first opening with its own edition line. The copies go through the real pipeline; their
repeated passages reuse stored vectors (ingest's text-hash reuse), so 100x builds in
minutes, while the index really holds N times the seed's passages. Latency is measured
warm (one pass first, then `--passes` timed passes over the development questions), the
question's embedding included (its cache is cleared before each search).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from assistant.corpus import list_files
from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.settings import PROJECT_DIR, get_settings
from evals.dataset import load

from .common import dir_size_mb, peak_rss_mb, percentiles, write

SCALE_CORPUS = PROJECT_DIR / "bench" / "scale-corpus"
SCALE_INDEX = PROJECT_DIR / "bench" / "scale-index"


def make_corpus(seed: Path, factor: int) -> Path:
    target = SCALE_CORPUS / f"x{factor}"
    files, _ = list_files(seed)
    expected = factor * len(files)
    if target.is_dir() and sum(1 for p in target.rglob("*") if p.is_file() and p.name != "manifest.toml") == expected:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(seed / "manifest.toml", target / "manifest.toml")
    for i in range(factor):
        folder = target / f"edition-{i:03d}"
        folder.mkdir()
        for f in files:
            text = f.read_text(encoding="utf-8")
            if i:
                text = f"Édition de travail n° {i} du document « {f.stem} ».\n\n" + text
            (folder / f.name).write_text(text, encoding="utf-8")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    base = get_settings()
    questions = [i for i in load(PROJECT_DIR / "evals" / "datasets" / "dev.jsonl")]
    rows, runs = [], []
    for factor in args.factors:
        corpus = make_corpus(base.corpus_dir, factor)
        settings = get_settings(corpus_dir=corpus, index_dir=SCALE_INDEX / f"x{factor}", collection="scale")
        started = time.perf_counter()
        report = ingest(settings)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        retriever = Retriever(settings)
        open_s = time.perf_counter() - started
        for item in questions:  # warm-up: caches, lazily built structures
            retriever.search(item.question, history=item.history)
        timings = {"hybrid": [], "dense": [], "lexical": []}
        for _ in range(args.passes):
            for mode in timings:
                for item in questions:
                    retriever._embed_query.cache_clear()  # a user's question is new: embed it
                    t = time.perf_counter()
                    retriever.search(item.question, mode=mode, history=item.history)
                    timings[mode].append((time.perf_counter() - t) * 1000)
        # The query embedding's own share of the time above.
        embed_ms = []
        for item in questions[:40]:
            t = time.perf_counter()
            retriever.embeddings.embed_query(item.question + " ?")
            embed_ms.append((time.perf_counter() - t) * 1000)
        run = {
            "factor": factor, "documents": report.documents, "chunks": report.chunks,
            "embedded": report.embedded, "reused": report.reused, "build_s": round(build_s, 1),
            "open_s": round(open_s, 2), "index_mb": dir_size_mb(settings.index_dir),
            "search_ms": {m: percentiles(v) for m, v in timings.items()},
            "query_embedding_ms": percentiles(embed_ms), "peak_rss_mb": peak_rss_mb(),
        }
        runs.append(run)
        h = run["search_ms"]["hybrid"]
        rows.append([f"{factor}×", report.documents, report.chunks, run["build_s"], run["index_mb"],
                     h["p50"], h["p95"], h["p99"], run["search_ms"]["dense"]["p95"],
                     run["search_ms"]["lexical"]["p95"], run["query_embedding_ms"]["p50"]])
        print(f"{factor}× : {report.chunks} passages, p95 hybride {h['p95']} ms", flush=True)
    write("scale", {"questions": len(questions), "passes": args.passes, "runs": runs},
          ["corpus", "documents", "passages", "construction (s)", "index (Mo)", "hybride p50 (ms)",
           "hybride p95 (ms)", "hybride p99 (ms)", "dense p95 (ms)", "lexical p95 (ms)",
           "plongement question p50 (ms)"], rows)


if __name__ == "__main__":
    main()
