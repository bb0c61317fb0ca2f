"""OCR of scanned PDF pages with Debian's tesseract (French), page by page.

A page is rendered by pdfium (already a dependency), read by the `tesseract` program in TSV
mode (words with their confidence), and cut into paragraphs. Results are cached on disk by
the file's hash and page, so a resumed ingestion or the document view does not redo them.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

OCR_DPI = 300
OCR_LANG = "fra"
OCR_TIMEOUT = 300  # seconds for one page: beyond that the page is reported, not waited for
# Bump when rendering or parsing changes, so cached pages are read again.
OCR_VERSION = 1
INSTALL_HINT = ("installez les paquets Debian tesseract-ocr et tesseract-ocr-fra "
                "(« apt-get install tesseract-ocr tesseract-ocr-fra » ; scripts/setup le fait)")


class OcrUnavailable(Exception):
    """tesseract or its French data is missing; the message says what to install."""


@dataclass
class OcrPage:
    page: int
    paragraphs: list[tuple[str, float]] = field(default_factory=list)  # (text, mean word confidence)
    confidence: float = 0.0  # mean word confidence of the page, 0-100
    error: str = ""

    def as_dict(self) -> dict:
        return {"page": self.page, "paragraphs": self.paragraphs, "confidence": self.confidence, "error": self.error}


def check_tesseract() -> str:
    """Path of tesseract when it can read French; otherwise OcrUnavailable."""
    return _check_tesseract(os.environ.get("PATH", ""))


@functools.lru_cache(maxsize=4)
def _check_tesseract(search_path: str) -> str:
    exe = shutil.which("tesseract", path=search_path)
    if not exe:
        raise OcrUnavailable(f"tesseract n'est pas installé : {INSTALL_HINT}")
    try:
        out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OcrUnavailable(f"tesseract ne démarre pas ({exc}) : {INSTALL_HINT}") from exc
    if OCR_LANG not in (out.stdout + out.stderr).split():
        raise OcrUnavailable(f"le français de tesseract manque : {INSTALL_HINT}")
    return exe


def parse_tsv(tsv: str) -> tuple[list[tuple[str, float]], float]:
    """Paragraphs (lines kept) with their mean word confidence, and the page's mean."""
    paragraphs: dict[tuple[int, int], dict[int, list[str]]] = {}
    confs: dict[tuple[int, int], list[float]] = {}
    for line in tsv.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = cols[11].strip()
        try:
            conf = float(cols[10])
        except ValueError:
            continue
        if not word or conf < 0:
            continue
        key = (int(cols[2]), int(cols[3]))
        paragraphs.setdefault(key, {}).setdefault(int(cols[4]), []).append(word)
        confs.setdefault(key, []).append(conf)
    out, every = [], []
    for key, lines in paragraphs.items():
        text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
        out.append((text, round(sum(confs[key]) / len(confs[key]), 1)))
        every.extend(confs[key])
    return out, round(sum(every) / len(every), 1) if every else 0.0


def _ocr_one(exe: str, image_bytes: bytes, page: int) -> OcrPage:
    # One thread per tesseract: on 2 cores its OpenMP threads made a page 5x slower.
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        done = subprocess.run([exe, "stdin", "stdout", "-l", OCR_LANG, "--psm", "3", "tsv"],
                              input=image_bytes, capture_output=True, timeout=OCR_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return OcrPage(page, error=f"OCR interrompue après {OCR_TIMEOUT} s")
    if done.returncode != 0:
        return OcrPage(page, error=done.stderr.decode("utf-8", "replace").strip()[:200] or "échec de tesseract")
    paragraphs, confidence = parse_tsv(done.stdout.decode("utf-8", "replace"))
    return OcrPage(page, paragraphs, confidence)


def _render(pdf, index: int) -> bytes:
    page = pdf[index]
    try:
        image = page.render(scale=OCR_DPI / 72, grayscale=True).to_pil()
    finally:
        page.close()
    buf = io.BytesIO()
    image.save(buf, format="PPM")  # uncompressed: cheaper to write than PNG, tesseract reads it
    return buf.getvalue()


def ocr_pages(pdf, pages: list[int], content_hash: str, cache_dir: Path | None = None,
              on_page=None) -> dict[int, OcrPage]:
    """OCR of the given 1-based pages of an open pypdfium2 document, cached by file hash."""
    results: dict[int, OcrPage] = {}
    todo = []
    for number in pages:
        cached = _cache_path(cache_dir, content_hash, number)
        if cached and cached.exists():
            try:
                data = json.loads(cached.read_text(encoding="utf-8"))
                results[number] = OcrPage(number, [tuple(p) for p in data["paragraphs"]],
                                          data["confidence"], data.get("error", ""))
                if on_page:
                    on_page(number)
                continue
            except (OSError, ValueError, KeyError):
                pass
        todo.append(number)
    if not todo:
        return results
    exe = check_tesseract()
    workers = max(1, min(len(todo), os.cpu_count() or 1, 4))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Rendering stays in this thread (pdfium is not thread-safe); tesseract runs in parallel.
        futures = []
        for number in todo:
            futures.append(pool.submit(_ocr_one, exe, _render(pdf, number - 1), number))
            if len(futures) > workers:  # bound the rendered images held in memory
                _collect(futures.pop(0), results, cache_dir, content_hash, on_page)
        for fut in futures:
            _collect(fut, results, cache_dir, content_hash, on_page)
    return results


def _collect(fut, results, cache_dir, content_hash, on_page) -> None:
    page = fut.result()
    results[page.page] = page
    target = _cache_path(cache_dir, content_hash, page.page)
    if target and not page.error:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(page.as_dict(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(target)
    if on_page:
        on_page(page.page)


def _cache_path(cache_dir: Path | None, content_hash: str, page: int) -> Path | None:
    if cache_dir is None:
        return None
    return Path(cache_dir) / f"{content_hash[:32]}-v{OCR_VERSION}-{OCR_DPI}-{OCR_LANG}-p{page}.json"
