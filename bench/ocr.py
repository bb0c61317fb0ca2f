"""OCR of a 20-page scanned French PDF made here (seed-corpus text typeset, rendered to page
images, kept only as images): words found back after cleaning, pages per minute, search.

    .venv/bin/python -m bench.ocr [--pages 20] [--dpi 200]

The scan is built from the seed corpus's own paragraphs, so the words are real French
administrative prose (accents, « », apostrophes, figures). Recall counts each true word
once per occurrence, accents and case folded, after the pipeline's cleaning (`search` text).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from assistant.chunk import chunk_document
from assistant.clean import clean_document
from assistant.corpus import document_info
from assistant.ingest import ingest
from assistant.load import LoadOptions, load_document
from assistant.retrieve import Retriever
from assistant.settings import PROJECT_DIR, get_settings
from tests.office_files import latin1, make_scanned_pdf
from tests.test_ocr import recall

from .common import write


def seed_pages(count: int, chars: int = 1800) -> list[str]:
    paragraphs = []
    for path in sorted((PROJECT_DIR / "corpus").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        paragraphs += [p.strip().replace("\n", " ") for p in text.split("\n\n") if len(p.strip()) > 200]
    pages, current = [], ""
    for p in paragraphs:
        if len(current) + len(p) > chars and current:
            pages.append(current)
            current = ""
            if len(pages) == count:
                break
        current += p + "\n\n"
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--dpi", type=int, default=200, help="resolution of the simulated scan")
    args = parser.parse_args()
    pages = [latin1(p) for p in seed_pages(args.pages)]
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        pdf = make_scanned_pdf(corpus / "scan-20-pages.pdf", pages, dpi=args.dpi)
        started = time.perf_counter()
        doc = load_document(document_info(pdf, corpus, {}), LoadOptions())
        ocr_s = time.perf_counter() - started
        blocks = clean_document(doc)
        per_page = []
        for number, truth in enumerate(pages, 1):
            found = " ".join(b.search for b in blocks if b.page == number)
            per_page.append(recall(truth, found))
        truth_words = sum(len(p.split()) for p in pages)
        overall = sum(r * len(p.split()) for r, p in zip(per_page, pages)) / truth_words
        confidences = sorted({round(b.ocr_confidence) for b in doc.blocks if b.ocr_confidence is not None})
        chunks = chunk_document(doc, blocks, 1000, 200)

        # Searchable: a sentence from the middle of page 10, asked in its own words.
        settings = get_settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", collection="bench")
        ingest(settings)  # the OCR is done again here (no cache shared with the load above)
        probe_page = min(10, len(pages))
        probe = pages[probe_page - 1].split(". ")[2][:160]
        results = Retriever(settings).search(probe, k=5)
        found_pages = [r.meta["page"] for r in results]

    payload = {"pages": len(pages), "scan_dpi": args.dpi, "ocr_seconds": round(ocr_s, 1),
               "pages_per_minute": round(len(pages) / ocr_s * 60, 1), "word_recall": round(overall, 4),
               "worst_page_recall": round(min(per_page), 4), "chunks": len(chunks),
               "confidence_range": [confidences[0], confidences[-1]] if confidences else None,
               "probe": probe, "probe_page": probe_page, "result_pages": found_pages}
    write("ocr", payload, ["pages", "scan dpi", "OCR s", "pages/min", "word recall", "worst page", "probe page in top 5"],
          [[len(pages), args.dpi, payload["ocr_seconds"], payload["pages_per_minute"], payload["word_recall"],
            payload["worst_page_recall"], probe_page in found_pages]])


if __name__ == "__main__":
    main()
