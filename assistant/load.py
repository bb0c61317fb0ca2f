"""Load: turn one source file into text blocks with their exact place in the source.

unstructured does the partitioning for every format. For plain text and Markdown the
source file itself is the reference text: each element is aligned back onto it, so a
citation's line range points at the file as it is on disk. For the other formats the
reference text is the extracted text, and blocks also carry their page number.

Other formats (docs/documents.md): .odt/.rtf/.doc are converted to DOCX first (office.py);
.odp slides, spreadsheets (.xlsx, .ods, .csv) and tables inside documents become blocks
that carry their location (« feuille « Tarifs », lignes 2 à 11 »); PDF pages without a
text layer are read by OCR (ocr.py) and carry their page, an OCR mark and a confidence.
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
CONVERTED_SUFFIXES = {".odt", ".rtf", ".doc"}
SHEET_SUFFIXES = {".xlsx", ".ods", ".csv"}
# A PDF page with fewer letters and digits than this in its text layer is treated as a scan.
SCANNED_PAGE_CHARS = 20
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
    where: str = ""  # French location shown in citations when lines are not enough
    ocr_confidence: float | None = None  # tesseract's mean word confidence (0-100) for OCR text
    sheet: str = ""  # spreadsheet sheet name of a row group
    rows: tuple[int, int] | None = None  # first and last row of a row group


@dataclass
class LoadedDocument:
    info: DocumentInfo
    text: str  # reference text: the file itself for .txt/.md, extracted text otherwise
    blocks: list[Block] = field(default_factory=list)
    text_is_source: bool = True  # False when `text` is extracted (HTML, PDF, DOCX)
    warnings: list[str] = field(default_factory=list)  # indexed, but worth a look (low OCR confidence)
    pages: int = 0  # PDF pages, slides
    ocr_pages: int = 0
    heading: str = ""  # the first heading, the title when neither manifest nor properties give one

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

        from .office import check_not_encrypted

        check_not_encrypted(path)
        return partition_docx(filename=str(path), languages=languages)
    if suffix in CONVERTED_SUFFIXES:
        import tempfile

        from unstructured.partition.docx import partition_docx

        from .office import to_docx

        with tempfile.TemporaryDirectory(prefix="assistant-convert-") as work:
            return partition_docx(filename=str(to_docx(path, Path(work))), languages=languages)
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


@dataclass
class _Piece:
    kind: str
    text: str
    page: int | None = None
    depth: int | None = None
    where: str = ""
    ocr_confidence: float | None = None
    sheet: str = ""
    rows: tuple[int, int] | None = None


def _table_pieces(groups, page: int | None = None) -> list[_Piece]:
    return [_Piece("table", g.text, page=page, where=g.where, sheet=g.sheet, rows=(g.first_row, g.last_row))
            for g in groups]


def _element_pieces(elements, skip_pages: set[int] = frozenset()) -> list[_Piece]:
    """unstructured elements as pieces; a table element becomes row groups that name columns."""
    from .tables import Table, row_groups, html_table_rows

    pieces, tables = [], 0
    for el in elements:
        page = getattr(el.metadata, "page_number", None)
        if page in skip_pages:
            continue
        html = getattr(el.metadata, "text_as_html", None) if _kind(el) == "table" else None
        if html:
            rows = html_table_rows(html)
            if sum(1 for r in rows if any(r)) >= 2:
                tables += 1
                table = Table(label=f"tableau {tables}", sheet="", rows=list(enumerate(rows, 1)))
                pieces.extend(_table_pieces(row_groups(table), page))
                continue
        pieces.append(_Piece(_kind(el), el.text.strip(), page=page, depth=_depth(el)))
    return pieces


def _sheet_pieces(path: Path, suffix: str, raw: bytes, max_rows: int) -> list[_Piece]:
    from . import tables

    if suffix == ".csv":
        found = tables.read_csv(path, decode_text(raw, path), max_rows)
    elif suffix == ".xlsx":
        from .office import check_not_encrypted

        check_not_encrypted(path)
        found = tables.read_xlsx(path, max_rows)
    else:
        from .office import check_not_encrypted

        check_not_encrypted(path)
        found = tables.read_ods(path, max_rows)
    pieces = []
    for table in found:
        groups = tables.row_groups(table)
        if not groups:
            continue
        if table.sheet:  # the sheet name opens a section: « Feuille « Tarifs » »
            pieces.append(_Piece("title", f"Feuille « {table.sheet} »", depth=0))
        pieces.extend(_table_pieces(groups))
    return pieces


def _scanned_pages(pdf) -> list[int]:
    """1-based pages with (almost) no text layer, or an image over most of the page and little text."""
    import pypdfium2.raw as pdfium_c

    out = []
    for i in range(len(pdf)):
        page = pdf[i]
        try:
            textpage = page.get_textpage()
            chars = sum(c.isalnum() for c in textpage.get_text_range())
            textpage.close()
            if chars < SCANNED_PAGE_CHARS:
                out.append(i + 1)
                continue
            if chars < 200:
                width, height = page.get_size()
                covered = 0.0
                for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=1):
                    left, bottom, right, top = obj.get_pos()
                    covered += max(0.0, right - left) * max(0.0, top - bottom)
                if covered >= 0.5 * width * height:
                    out.append(i + 1)
        finally:
            page.close()
    return out


def _pdf_pieces(path: Path, info: DocumentInfo, options: "LoadOptions", doc_notes: dict) -> list[_Piece]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentError(path, "ce PDF est protégé par un mot de passe : enregistrez-en une copie sans "
                                      "mot de passe (ou sans chiffrement) puis réessayez.") from exc
        raise DocumentError(path, "ce PDF est illisible (fichier corrompu ou tronqué ?).") from exc
    try:
        total = len(pdf)
        doc_notes["pages"] = total
        scanned = _scanned_pages(pdf)
        pieces: list[_Piece] = []
        if len(scanned) < total:
            from unstructured.partition.pdf import partition_pdf

            elements = partition_pdf(filename=str(path), strategy="fast", languages=["fra"])
            elements = [el for el in elements if (el.text or "").strip()]
            pieces = _element_pieces(elements, skip_pages=set(scanned))
        options.progress("pages", done=total - len(scanned), total=total)
        if scanned:
            pieces += _ocr_pieces(path, pdf, scanned, info, options, doc_notes)
        pieces.sort(key=lambda p: p.page or 0)  # stable: text-page order is kept
        return pieces
    finally:
        pdf.close()


def _ocr_pieces(path: Path, pdf, scanned: list[int], info: DocumentInfo, options: "LoadOptions",
                doc_notes: dict) -> list[_Piece]:
    from .ocr import OcrUnavailable, ocr_pages

    done = [0]

    def on_page(_number):
        done[0] += 1
        options.progress("ocr", done=done[0], total=len(scanned), name=path.name)

    options.progress("ocr", done=0, total=len(scanned), name=path.name)
    try:  # tesseract is needed only for pages not in the cache
        results = ocr_pages(pdf, scanned, info.content_hash, options.ocr_cache, on_page)
    except OcrUnavailable as exc:
        pages = "toutes ses pages" if len(scanned) == len(pdf) else f"{len(scanned)} page(s) sans texte"
        raise DocumentError(path, f"ce PDF est scanné ({pages}) et doit passer par l'OCR, mais {exc}.") from None
    doc_notes["ocr_pages"] = len(scanned)
    pieces, warnings = [], doc_notes.setdefault("warnings", [])
    floor = options.ocr_min_confidence
    for number in scanned:
        page = results[number]
        if page.error:
            warnings.append(f"{path} : page {number}, l'OCR a échoué ({page.error}) ; page non indexée.")
            continue
        if not page.paragraphs:
            if len(scanned) < len(pdf) or len(scanned) > 1:
                warnings.append(f"{path} : page {number}, l'OCR n'a reconnu aucun texte (page blanche ou illisible).")
            continue
        if page.confidence < floor:
            warnings.append(
                f"{path} : page {number} reconnue par OCR avec une confiance faible ({page.confidence:.0f} %, "
                f"seuil {floor:.0f} %, réglage ASSISTANT_OCR_MIN_CONFIDENCE) : indexée, à vérifier.")
        for text, conf in page.paragraphs:
            pieces.append(_Piece("text", text, page=number, where=f"texte reconnu par OCR, page {number}",
                                 ocr_confidence=conf))
    if not pieces and len(scanned) == len(pdf):
        raise DocumentError(path, "ce PDF ne contient que des images et l'OCR n'y a reconnu aucun texte "
                                  "(pages blanches, photo illisible ou écriture manuscrite ?).")
    return pieces


def _odp_pieces(path: Path, doc_notes: dict) -> list[_Piece]:
    from .office import read_odp

    slides = read_odp(path)
    doc_notes["pages"] = len(slides)
    pieces = []
    for number, paras in slides:
        for i, text in enumerate(paras):
            pieces.append(_Piece("title" if i == 0 and len(text) < 120 else "text", text, page=number,
                                 depth=0 if i == 0 and len(text) < 120 else None, where=f"diapositive {number}"))
    return pieces


def _noop_progress(*_args, **_kwargs) -> None:
    pass


@dataclass
class LoadOptions:
    max_table_rows: int = 100_000
    ocr_min_confidence: float = 60.0
    ocr_cache: Path | None = None  # where OCR'd pages are kept (index_dir/ocr); None: not kept
    progress: "object" = _noop_progress

    @classmethod
    def from_settings(cls, settings, progress=None) -> "LoadOptions":
        return cls(max_table_rows=settings.max_table_rows, ocr_min_confidence=settings.ocr_min_confidence,
                   ocr_cache=Path(settings.index_dir) / "ocr", progress=progress or _noop_progress)


def load_document(info: DocumentInfo, options: LoadOptions | None = None) -> LoadedDocument:
    """Partition one file; an empty result from a non-empty file is an error."""
    options = options or LoadOptions()
    path = info.path
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"fichier illisible ({exc.strerror or exc}).") from exc
    if not raw.strip():
        raise DocumentError(path, "fichier vide : rien à indexer.")
    suffix = path.suffix.lower()
    text = decode_text(raw, path) if suffix in TEXT_SUFFIXES | {".html", ".htm"} else None
    notes: dict = {}
    try:
        if suffix in SHEET_SUFFIXES:
            pieces = _sheet_pieces(path, suffix, raw, options.max_table_rows)
        elif suffix == ".pdf":
            _use_local_sentence_pipeline()
            pieces = _pdf_pieces(path, info, options, notes)
        elif suffix == ".odp":
            pieces = _odp_pieces(path, notes)
        else:
            elements = [el for el in _partition(path, text) if (el.text or "").strip()]
            if suffix in TEXT_SUFFIXES:
                pieces = None
            else:
                pieces = _element_pieces(elements)
    except DocumentError:
        raise
    except Exception as exc:  # each parser has its own exceptions for a corrupt file
        raise DocumentError(
            path, f"le fichier n'a pas pu être lu ({type(exc).__name__}: {exc}). Est-il corrompu ?"
        ) from exc
    if (not elements if pieces is None else not pieces):
        raise DocumentError(path, "aucun texte n'a pu être extrait de ce fichier.")

    if pieces is None:
        blocks = _align(text, elements)
        if not blocks:
            raise DocumentError(path, "le texte extrait ne se retrouve pas dans le fichier.")
        return _titled(LoadedDocument(info=info, text=text, blocks=blocks, text_is_source=True))

    parts, blocks, offset = [], [], 0
    for piece in pieces:
        body = piece.text.strip()
        if not body:
            continue
        parts.append(body)
        blocks.append(Block(piece.kind, offset, offset + len(body), page=piece.page, depth=piece.depth,
                            where=piece.where, ocr_confidence=piece.ocr_confidence, sheet=piece.sheet,
                            rows=piece.rows))
        offset += len(body) + 2
    return _titled(LoadedDocument(info=info, text="\n\n".join(parts), blocks=blocks, text_is_source=False,
                                  warnings=notes.get("warnings", []), pages=notes.get("pages", 0),
                                  ocr_pages=notes.get("ocr_pages", 0)))


def first_heading(doc: LoadedDocument) -> str:
    """The document's first heading, as a title: "" for spreadsheets (their titles are the
    sheet names this module writes) and when the first blocks hold none."""
    if doc.info.path.suffix.lower() in SHEET_SUFFIXES:
        return ""
    for block in doc.blocks[:50]:
        if block.kind != "title" or block.rows:
            continue
        text = " ".join(doc.block_text(block).split()).strip("#*_= ").strip()
        if 3 <= len(text) <= 200 and sum(ch.isalpha() for ch in text) >= 3:
            return text
    return ""


def _titled(doc: LoadedDocument) -> LoadedDocument:
    """Without a title from the manifest or the file's properties, the first heading is the title."""
    from dataclasses import replace

    doc.heading = first_heading(doc)
    if doc.heading and not doc.info.origin("title"):
        doc.info = replace(doc.info, title=doc.heading,
                           origins=doc.info.origins + (("title", "titre"),))
    return doc
