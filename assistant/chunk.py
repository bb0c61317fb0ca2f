"""Chunk: pack cleaned blocks into passages that follow the document's structure.

A heading closes the current passage and opens a new section; blocks of one section are
packed up to `chunk_size` characters; a block longer than that is split on sentence
boundaries (LangChain's recursive splitter) with a small overlap. Each chunk knows its
document, section path and exact span in the reference text (offsets and lines).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass

from .clean import CleanBlock, to_display, to_search
from .load import LoadedDocument

SECTION_SEP = " > "


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    ordinal: int
    section: str
    start: int
    end: int
    start_line: int
    end_line: int
    page: int | None
    display: str  # what a user reads (findable in the source)
    search: str  # cleaned text for lexical search
    embed_text: str  # what the embedding model sees (section + text)
    where: str = ""  # French location when lines are not enough (OCR page, sheet and rows)
    ocr_confidence: float | None = None  # lowest tesseract confidence of its OCR'd parts
    sheet: str = ""
    rows: tuple[int, int] | None = None

    def metadata(self, doc) -> dict:
        """Flat metadata for the vector store (Chroma takes scalars only)."""
        info = doc.info
        return {
            "doc_id": self.doc_id,
            "doc_hash": info.content_hash,
            "title": info.title,
            "publisher": info.publisher,
            "date": info.date,
            "kind": info.kind,
            "section": self.section,
            "ordinal": self.ordinal,
            "start": self.start,
            "end": self.end,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "page": self.page if self.page is not None else -1,
            "display": self.display,
            "search": self.search,
            "text_sha": text_sha(self.embed_text),
            "folder": self.doc_id.rpartition("/")[0],  # relative folder, for filtering
            "where": self.where,
            "ocr": self.ocr_confidence is not None,
            "ocr_confidence": self.ocr_confidence if self.ocr_confidence is not None else -1.0,
            "sheet": self.sheet,
            "row_first": self.rows[0] if self.rows else -1,
            "row_last": self.rows[1] if self.rows else -1,
        }


def text_sha(embed_text: str) -> str:
    """Key of the embedded text alone: the same passage in another file reuses its vector."""
    return hashlib.sha256(embed_text.encode()).hexdigest()[:24]


class _Lines:
    def __init__(self, text: str):
        self.starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


def _split_long(doc: LoadedDocument, block: CleanBlock, size: int) -> list[tuple[int, int]]:
    """Spans (in the reference text) of pieces of one over-long block."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=min(150, size // 6),
        separators=["\n\n", "\n", ". ", "; ", ", ", " "],
        keep_separator="end",
        add_start_index=True,
    )
    raw = doc.text[block.start : block.end]
    spans = []
    for piece in splitter.create_documents([raw]):
        s = block.start + piece.metadata["start_index"]
        spans.append((s, s + len(piece.page_content)))
    return spans


def _location(parts) -> str:
    return next((p[5].where for p in reversed(parts) if len(p) > 5 and p[5] is not None and p[5].kind != "heading"), "")


def chunk_document(doc: LoadedDocument, blocks: list[CleanBlock], size: int, minimum: int) -> list[Chunk]:
    lines = _Lines(doc.text)
    path: list[tuple[int, str]] = []  # heading stack: (level, text)
    pending: list[tuple] = []  # start, end, display, search, page, CleanBlock (or None)
    out: list[Chunk] = []
    seen_ids: dict[str, int] = {}

    def section() -> str:
        return SECTION_SEP.join(text for _, text in path)

    def emit(parts, sect: str) -> None:
        if not parts:
            return
        display = "\n".join(p[2] for p in parts)
        search = "\n".join(p[3] for p in parts)
        start, end = parts[0][0], parts[-1][1]
        sources = [p[5] for p in parts if len(p) > 5 and p[5] is not None]
        confs = [b.ocr_confidence for b in sources if b.ocr_confidence is not None]
        located = next((b for b in sources if b.where), None)
        label = sect.split(SECTION_SEP)[-2:] if sect else []
        embed = (SECTION_SEP.join(label) + "\n" + search) if label else search
        base = hashlib.sha256(f"{doc.info.doc_id}\0{embed}".encode()).hexdigest()[:24]
        n = seen_ids.get(base, 0)
        seen_ids[base] = n + 1
        chunk_id = base if n == 0 else f"{base}-{n}"  # identical passages twice in one file
        out.append(
            Chunk(
                chunk_id=chunk_id,
                doc_id=doc.info.doc_id,
                ordinal=len(out),
                section=sect,
                start=start,
                end=end,
                start_line=lines.line_of(start),
                end_line=lines.line_of(max(start, end - 1)),
                page=parts[0][4],
                display=display,
                search=search,
                embed_text=embed,
                where=located.where if located else "",
                ocr_confidence=min(confs) if confs else None,
                sheet=located.sheet if located else "",
                rows=located.rows if located else None,
            )
        )

    def flush() -> None:
        nonlocal pending
        if not pending:
            return
        # A short tail of the same section joins the previous chunk rather than standing alone.
        size_now = sum(len(p[2]) for p in pending)
        if (size_now < minimum and out and out[-1].section == section() and out[-1].rows is None
                and out[-1].where == _location(pending) and len(out[-1].display) + size_now <= size * 1.5):
            prev = out.pop()
            carried = CleanBlock("text", prev.start, prev.end, prev.page, 0, prev.display, prev.search,
                                 where=prev.where, ocr_confidence=prev.ocr_confidence, sheet=prev.sheet,
                                 rows=prev.rows)
            merged = [(prev.start, prev.end, prev.display, prev.search, prev.page, carried)] + pending
            pending = []
            emit(merged, prev.section)
            return
        emit(pending, section())
        pending = []

    body_pending = False  # does `pending` hold more than headings?
    for block in blocks:
        if block.kind == "heading":
            if body_pending:
                flush()
                body_pending = False
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.display))
            # The heading opens its passage too: its words are searchable and quoted in place.
            pending.append((block.start, block.end, block.display, block.search, block.page, block))
            continue
        if block.kind == "table" and block.where:
            # A row group is a passage of its own: its citation names its rows.
            flush()
            body_pending = False
            if len(block.display) <= size:
                emit([(block.start, block.end, block.display, block.search, block.page, block)], section())
                continue
        if pending and body_pending and _location(pending) != block.where:
            flush()  # an OCR page, a slide: one location per passage
        body_pending = True
        if len(block.display) > size:
            flush()
            body_pending = False
            for s, e in _split_long(doc, block, size):
                display = to_display(doc.text[s:e])
                if display:
                    emit([(s, e, display, to_search(display), block.page, block)], section())
            continue
        if pending and sum(len(p[2]) + 1 for p in pending) + len(block.display) > size:
            flush()
            body_pending = True
        pending.append((block.start, block.end, block.display, block.search, block.page, block))
    flush()
    # A stray fragment (a date, a logo line) is noise as a passage of its own.
    kept = [c for c in out if len(c.display) >= 30 or c.rows] or out
    for i, c in enumerate(kept):
        c.ordinal = i
    return kept
