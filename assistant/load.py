"""Load: turn one source file into text blocks with their exact place in the source.

unstructured does the partitioning for every format. For plain text and Markdown the
source file itself is the reference text: each element is aligned back onto it, so a
citation's line range points at the file as it is on disk. For HTML, PDF and DOCX the
reference text is the extracted text (kept beside the index), and PDF blocks also
carry their page number.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .corpus import DocumentInfo
from .errors import DocumentError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
_EMPHASIS_MARKS = re.compile(r"\*\*|__|</?(?:i|b|em|strong)>")
_nlp_lock = threading.Lock()
_nlp_ready = False


@dataclass
class Block:
    kind: str  # "title", "text", "list" or "table"
    start: int  # character offsets into LoadedDocument.text
    end: int
    page: int | None = None
    depth: int | None = None  # heading depth when the format says it (Markdown, HTML, DOCX)


@dataclass
class LoadedDocument:
    info: DocumentInfo
    text: str  # reference text: the file itself for .txt/.md, extracted text otherwise
    blocks: list[Block] = field(default_factory=list)
    text_is_source: bool = True  # False when `text` is extracted (HTML, PDF, DOCX)

    def block_text(self, block: Block) -> str:
        return self.text[block.start : block.end]


def _use_local_sentence_pipeline() -> None:
    """unstructured downloads spaCy's English model at first use; give it a local one."""
    global _nlp_ready
    with _nlp_lock:
        if _nlp_ready:
            return
        import spacy
        import unstructured.nlp.tokenize as tokenize

        nlp = spacy.blank("fr")
        nlp.add_pipe("sentencizer")
        tokenize._get_nlp = lambda: nlp
        _nlp_ready = True


def decode_text(raw: bytes, path: Path) -> str:
    """UTF-8 (or a UTF-16 with BOM) first, then Windows-1252 / Latin-1, the legacy French encodings."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" in raw:
        raise DocumentError(path, "ce fichier n'est pas du texte lisible (contenu binaire).")
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _kind(element) -> str:
    category = getattr(element, "category", "")
    if category == "Title":
        return "title"
    if category == "ListItem":
        return "list"
    if category == "Table":
        return "table"
    return "text"


def _partition(path: Path, text: str | None):
    _use_local_sentence_pipeline()
    suffix = path.suffix.lower()
    languages = ["fra"]
    if suffix == ".txt":
        from unstructured.partition.text import partition_text

        # Markdown-style emphasis in plain text makes the text partitioner cut a line into
        # pieces; blocks are aligned back on the original text, so dropping marks is safe.
        return partition_text(text=_EMPHASIS_MARKS.sub("", text), languages=languages)
    if suffix in (".md", ".markdown"):
        from unstructured.partition.md import partition_md

        return partition_md(text=text, languages=languages)
    if suffix in (".html", ".htm"):
        from unstructured.partition.html import partition_html

        return partition_html(text=text, languages=languages)
    if suffix == ".pdf":
        from unstructured.partition.pdf import partition_pdf

        return partition_pdf(filename=str(path), strategy="fast", languages=languages)
    if suffix == ".docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(filename=str(path), languages=languages)
    raise DocumentError(path, f"format {suffix or '(sans extension)'} non pris en charge.")


def _alnum_index(text: str) -> tuple[str, list[int]]:
    """Lower-cased alphanumeric characters of `text` and their offsets in it."""
    chars, offsets = [], []
    for i, ch in enumerate(text):
        if ch.isalnum():
            low = ch.lower()
            chars.append(low if len(low) == 1 else ch)
            offsets.append(i)
    return "".join(chars), offsets


def _align(text: str, elements) -> list[Block]:
    """Find each element in the source text, in order, ignoring markup and spacing."""
    norm, offsets = _alnum_index(text)
    blocks, cursor = [], 0
    for el in elements:
        needle, _ = _alnum_index(el.text or "")
        if not needle:
            continue
        pos = norm.find(needle, cursor)
        if pos < 0:  # unstructured rewrote the text (bullets, quotes): anchor on its head
            head = needle[:24]
            pos = norm.find(head, cursor)
            if pos < 0:
                log.debug("element not aligned: %r", el.text[:60])
                continue
            tail = needle[-24:]
            end_pos = norm.find(tail, pos)
            length = (end_pos + len(tail) - pos) if end_pos >= 0 else len(head)
        else:
            length = len(needle)
        start = offsets[pos]
        end = offsets[pos + length - 1] + 1
        # Keep the punctuation that hugs the element: "(SDIS)", "« Un toit »".
        while start > 0 and not text[start - 1].isspace() and not text[start - 1].isalnum():
            start -= 1
        while end < len(text) and not text[end].isspace() and not text[end].isalnum():
            end += 1
        cursor = pos + length
        if blocks and "\n" not in text[blocks[-1].end : start]:
            # Pieces of one source line belong together (the partitioner split it).
            blocks[-1].end = max(blocks[-1].end, end)
            if blocks[-1].kind == "title":
                blocks[-1].kind, blocks[-1].depth = _kind(el), None
            continue
        blocks.append(Block(kind=_kind(el), start=start, end=end, depth=_depth(el)))
    return blocks


def _depth(element) -> int | None:
    depth = getattr(element.metadata, "category_depth", None)
    return int(depth) if depth is not None and _kind(element) == "title" else None


def load_document(info: DocumentInfo) -> LoadedDocument:
    """Partition one file; an empty result from a non-empty file is an error."""
    path = info.path
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"fichier illisible ({exc.strerror or exc}).") from exc
    if not raw.strip():
        raise DocumentError(path, "fichier vide : rien à indexer.")
    suffix = path.suffix.lower()
    text = decode_text(raw, path) if suffix in TEXT_SUFFIXES | {".html", ".htm"} else None
    try:
        elements = _partition(path, text)
    except DocumentError:
        raise
    except Exception as exc:  # each parser has its own exceptions for a corrupt file
        raise DocumentError(
            path, f"le fichier n'a pas pu être lu ({type(exc).__name__}: {exc}). Est-il corrompu ?"
        ) from exc
    elements = [el for el in elements if (el.text or "").strip()]
    if not elements:
        hint = (
            " Ce PDF n'a sans doute pas de couche texte (document scanné) : il faut d'abord le passer à l'OCR."
            if suffix == ".pdf"
            else ""
        )
        raise DocumentError(path, "aucun texte n'a pu être extrait de ce fichier." + hint)

    if suffix in TEXT_SUFFIXES:
        blocks = _align(text, elements)
        if not blocks:
            raise DocumentError(path, "le texte extrait ne se retrouve pas dans le fichier.")
        return LoadedDocument(info=info, text=text, blocks=blocks, text_is_source=True)

    parts, blocks, offset = [], [], 0
    for el in elements:
        body = el.text.strip()
        parts.append(body)
        page = getattr(el.metadata, "page_number", None)
        blocks.append(Block(_kind(el), offset, offset + len(body), page=page, depth=_depth(el)))
        offset += len(body) + 2
    return LoadedDocument(info=info, text="\n\n".join(parts), blocks=blocks, text_is_source=False)
