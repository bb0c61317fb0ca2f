"""Ingestion throughput against the embedding model's own speed on the same texts.

    .venv/bin/python -m bench.ingest [--corpus DIR]

Builds a fresh index of the corpus in a temporary directory (the real pipeline: load,
clean, chunk, embed, store, and the passages' sentences for the answer scorer), then embeds
the very same texts (every passage and every distinct sentence) with the embedding model
alone, in the pipeline's batch sizes. ratio = model alone (s) / pipeline (s): 1 means the
pipeline costs nothing beyond the embedding.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from assistant.embed import get_embeddings
from assistant.ingest import ingest
from assistant.settings import get_settings
from assistant.sentence_index import BATCH as SENTENCE_BATCH
from assistant.sentence_index import SentenceIndex
from assistant.store import Store

from .common import dir_size_mb, peak_rss_mb, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        base = get_settings()
        settings = get_settings(corpus_dir=args.corpus or base.corpus_dir, index_dir=Path(tmp) / "index",
                                collection="bench")
        embeddings = get_embeddings(settings)
        embeddings.embed_documents(["échauffement"])  # model load is not ingestion
        started = time.perf_counter()
        report = ingest(settings)
        pipeline_s = time.perf_counter() - started

        store = Store(settings)
        _, collection = store.open_ready(embeddings.identity)
        texts = collection.get(include=["documents"])["documents"]
        sentences = SentenceIndex.open(store, embeddings).collection.get(include=["documents"])["documents"]
        started = time.perf_counter()
        for items, batch in ((texts, settings.embeddings_batch_size), (sentences, SENTENCE_BATCH)):
            for i in range(0, len(items), batch):
                embeddings.embed_documents(items[i : i + batch])
        raw_s = time.perf_counter() - started
        size = dir_size_mb(Path(tmp) / "index")

    pipeline_cps = report.chunks / pipeline_s
    raw_cps = len(texts) / raw_s
    payload = {
        "embeddings": embeddings.identity, "documents": report.documents, "chunks": report.chunks,
        "embedded": report.embedded, "reused": report.reused, "pipeline_seconds": round(pipeline_s, 2),
        "pipeline_docs_per_s": round(report.documents / pipeline_s, 3),
        "pipeline_chunks_per_s": round(pipeline_cps, 2), "raw_embed_seconds": round(raw_s, 2),
        "raw_chunks_per_s": round(raw_cps, 2), "sentences": len(sentences), "ratio": round(raw_s / pipeline_s, 3),
        "index_mb": size, "peak_rss_mb": peak_rss_mb(), "errors": report.errors,
    }
    write("ingest", payload,
          ["documents", "passages", "phrases", "pipeline (s)", "modèle seul, mêmes textes (s)",
           "ratio (cible ≥ 0,8)", "index (Mo)"],
          [[report.documents, report.chunks, len(sentences), payload["pipeline_seconds"],
            payload["raw_embed_seconds"], payload["ratio"], size]])


if __name__ == "__main__":
    main()
