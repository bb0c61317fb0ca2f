"""Clean: layout debris out, broken lines mended, OCR damage repaired for matching.

Each kept block gets two texts:
- `display`: the source span with only markup stripped and lines joined, so that what a
  user reads as a citation can still be found in the source document;
- `search`: the same text with OCR damage repaired and typography normalised, which is
  what gets embedded and indexed for lexical search.
The source file is never modified.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from .load import Block, LoadedDocument

# Web and PDF debris that carries no content, matched on whole lines.
_BOILERPLATE = re.compile(
    r"^\s*(skip to (main )?content|aller au contenu( principal)?|print friendly, pdf & email|"
    r"partager\s*:?|imprimer|lire aussi\s*:?|accepter( les)? cookies|menu|rechercher|"
    r"retour en haut|page \d+( sur \d+)?|\d+\s*/\s*\d+|\d{1,3})\s*$",
    re.IGNORECASE,
)
# A table-of-contents line: a title followed by a page number.
_TOC_LINE = re.compile(r"^\s*\S.{2,}?(\.{2,}|\t| {2,})\s*\d{1,3}\s*$")
_NUMBERED_HEADING = re.compile(
    r"^\s*(?:[IVX]{1,5}\s*[.\-–)]|\d{1,2}\s*[.\-–)]|\d{1,2}(?:\.\d{1,2}){1,3}\.?)\s+\S"
)
_TOC_TITLE = re.compile(r"^\s*(sommaire|table des mati[èe]res|contents)\s*:?\s*$", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]{0,200})?/?>")  # not <https://...>
_SUPERSCRIPT = re.compile(r"\^\{([^}]{0,12})\}")
_MD_LINK = re.compile(r"\[([^\]]{1,300})\]\((?:[^)]{0,500})\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*]))")
_BULLET = re.compile(r"^\s*(?:[-*•▪●◦‣∙·➢➤►o]|\d{1,2}[.)])\s+", re.MULTILINE)
_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\n[ \t]*([a-zà-ÿ])")
_SPACES = re.compile(r"[ \t\u00a0\u202f]+")
_BREAKS = re.compile(r"\s*\n\s*")

# OCR damage seen in scanned documents: capital I read for l before an apostrophe,
# then words whose accent was misread into another letter.
_OCR_L_APOSTROPHE = re.compile(r"(?<![A-Za-zÀ-ÿ])I['’](?=[A-Za-zÀ-ÿ])")
_OCR_WORDS = {
    "réle": "rôle",
    "rdle": "rôle",
    "modeéle": "modèle",
    "modéle": "modèle",
    "Synthése": "Synthèse",
    "hotamment": "notamment",
}
_OCR_WORD_RE = re.compile(r"\b(" + "|".join(map(re.escape, _OCR_WORDS)) + r")\b")


@dataclass
class CleanBlock:
    kind: str  # "heading", "text", "list" or "table"
    start: int
    end: int
    page: int | None
    level: int  # heading level (1 = top); 0 for non-headings
    display: str
    search: str
    where: str = ""  # location label carried from the block (OCR page, sheet rows)
    ocr_confidence: float | None = None
    sheet: str = ""
    rows: tuple[int, int] | None = None


def strip_markup(text: str) -> str:
    text = _HTML_TAG.sub(" ", text)
    text = _SUPERSCRIPT.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    text = _EMPHASIS.sub("", text)
    return text


def join_lines(text: str) -> str:
    """Mend hyphenation at line ends and hard line breaks inside a paragraph."""
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _BREAKS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def repair_ocr(text: str) -> str:
    text = _OCR_L_APOSTROPHE.sub("l'", text)
    return _OCR_WORD_RE.sub(lambda m: _OCR_WORDS[m.group(1)], text)


def normalize_typography(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return text.replace("’", "'").replace("‘", "'").replace("\u00ad", "")


def to_display(raw: str) -> str:
    return join_lines(_BULLET.sub("", strip_markup(raw)))


def to_search(display: str) -> str:
    return repair_ocr(normalize_typography(display))


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


def is_upper_block(text: str) -> bool:
    letters = _letters(text)
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) >= 0.8


def heading_level(text: str, depth: int | None) -> int:
    if depth is not None:
        return depth + 1
    if _NUMBERED_HEADING.match(text):
        if re.match(r"^\s*[IVX]", text):
            return 1
        m = re.match(r"^\s*(\d{1,2}(?:\.\d{1,2}){0,3})", text)
        return min(2 + m.group(1).count("."), 4)
    if is_upper_block(text):
        return 1
    return 4


def _words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return {w for w in re.findall(r"[a-z0-9]{3,}", folded)}


def _is_sidebar(display: str, neighbourhood: str) -> bool:
    """A pull quote in capitals that repeats what the nearby text already says."""
    if not is_upper_block(display) or _NUMBERED_HEADING.match(display):
        return False
    words = _words(display)
    if not words:
        return True
    near = _words(neighbourhood)
    return len(words & near) / len(words) >= 0.6


def _is_toc(lines: list[str]) -> bool:
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 3:
        return False
    return sum(bool(_TOC_LINE.match(ln)) for ln in lines) / len(lines) >= 0.6


def clean_document(doc: LoadedDocument) -> list[CleanBlock]:
    """Kept blocks of a document, in order, with display and search texts."""
    staged: list[tuple[Block, int, int, str]] = []
    for block in doc.blocks:
        raw = doc.block_text(block)
        lines = raw.split("\n")
        if _is_toc(lines):
            continue
        # Drop debris lines; keep the span tight around what remains.
        keep = [i for i, ln in enumerate(lines) if ln.strip() and not _BOILERPLATE.match(ln)]
        if not keep:
            continue
        first, last = keep[0], keep[-1]
        start = block.start + sum(len(ln) + 1 for ln in lines[:first])
        end = block.start + sum(len(ln) + 1 for ln in lines[: last + 1]) - 1
        kept_raw = "\n".join(lines[i] for i in keep)
        if block.kind == "table":  # one row per line: the line break is the row boundary
            display = "\n".join(to_display(lines[i]) for i in keep)
        else:
            display = to_display(kept_raw)
        if sum(c.isalnum() for c in display) < 3:
            continue
        staged.append((block, start, min(end, block.end), display))

    # Running headers and footers: the same short line many times in one document.
    counts = Counter(d for _, _, _, d in staged if len(d) < 80)
    repeated = {d for d, n in counts.items() if n >= 3}

    out: list[CleanBlock] = []
    for i, (block, start, end, display) in enumerate(staged):
        if display in repeated:
            continue
        lo, hi = max(0, start - 2500), min(len(doc.text), end + 2500)
        neighbourhood = doc.text[lo:start] + " " + doc.text[end:hi]
        if block.kind != "table" and _is_sidebar(display, neighbourhood):
            continue
        short = block.kind != "table" and len(display) <= 200 and not display.endswith((".", ";", ","))
        is_heading = short and (block.kind == "title" or bool(_NUMBERED_HEADING.match(display)))
        if is_heading and _TOC_TITLE.match(display):
            continue  # the table of contents itself is gone; its title must not become a section
        kind = "heading" if is_heading else block.kind if block.kind != "title" else "text"
        out.append(
            CleanBlock(
                kind=kind,
                start=start,
                end=end,
                page=block.page,
                level=heading_level(display, block.depth) if is_heading else 0,
                display=display,
                search=to_search(display),
                where=block.where,
                ocr_confidence=block.ocr_confidence,
                sheet=block.sheet,
                rows=block.rows,
            )
        )
    return out
