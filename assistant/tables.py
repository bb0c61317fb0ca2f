"""Tables: spreadsheets (.xlsx, .ods, .csv) and tables inside documents, as row groups.

Each row is written as one line that names its columns (« Prestation : Aide à domicile ;
Tarif horaire : 23,50 »), so a passage holding any group of rows keeps the header with
every row, and a row quoted alone still says what its values are. Rows are grouped into
passages of a bounded size; each group knows its sheet (or table) and row numbers, which
the citation shows.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from .errors import DocumentError

# A row group stays under this many characters (the default passage is 1000) and rows.
GROUP_CHARS = 800
GROUP_ROWS = 20
MAX_CELL_CHARS = 500  # a pasted essay in one cell is cut, not the whole sheet
MAX_COLUMNS = 200

_ODS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"


@dataclass
class Table:
    label: str  # « feuille « Tarifs » », « tableau 2 », « fichier CSV »
    sheet: str  # sheet name, or "" for tables inside documents and CSV
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # (row number, cells)


@dataclass
class RowGroup:
    sheet: str
    first_row: int
    last_row: int
    text: str  # one line per row
    where: str  # French location for the citation


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.6f}".rstrip("0").replace(".", ",")  # French decimal comma
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y") if not (value.hour or value.minute) else value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text[:MAX_CELL_CHARS]


def _row_limit_error(path: Path, label: str, limit: int) -> DocumentError:
    return DocumentError(
        path,
        f"{label} compte plus de {limit:,} lignes".replace(",", "\u202f")
        + " : fichier refusé au-delà du réglage ASSISTANT_MAX_TABLE_ROWS (max_table_rows = "
        f"{limit}). Augmentez ce réglage ou découpez le fichier.",
    )


def row_groups(table: Table) -> list[RowGroup]:
    """The table's rows after its header, as passages that each repeat the column names."""
    rows = [(n, cells) for n, cells in table.rows if any(c for c in cells)]
    if not rows:
        return []
    header_row, header = rows[0]
    body = rows[1:]
    if not body:  # a one-row table: the row is its own content
        body, header = rows, []
    width = max(len(c) for _, c in body)
    names = [(header[i] if i < len(header) and header[i] else f"colonne {column_letter(i)}") for i in range(width)]
    lines = []
    for number, cells in body:
        pairs = [f"{names[i]} : {v}" for i, v in enumerate(cells) if v]
        lines.append((number, f"Ligne {number} — " + " ; ".join(pairs) + "."))
    groups, current = [], []

    def close():
        first, last = current[0][0], current[-1][0]
        rows_label = f"ligne {first}" if first == last else f"lignes {first} à {last}"
        groups.append(RowGroup(table.sheet, first, last, "\n".join(t for _, t in current),
                               f"{table.label}, {rows_label}"))

    size = 0
    for number, line in lines:
        if current and (size + len(line) > GROUP_CHARS or len(current) >= GROUP_ROWS):
            close()
            current, size = [], 0
        current.append((number, line))
        size += len(line) + 1
    if current:
        close()
    return groups


def _trim(cells: list[str]) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    return cells[:MAX_COLUMNS]


# ----- readers --------------------------------------------------------------------------
def read_csv(path: Path, text: str, max_rows: int) -> list[Table]:
    sample = text[:20000]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t|")
    except csv.Error:
        dialect = csv.excel
        dialect.delimiter = ";" if sample.count(";") > sample.count(",") else ","
    table = Table(label="fichier CSV", sheet="")
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        for number, record in enumerate(reader, 1):
            if number > max_rows:
                raise _row_limit_error(path, "ce fichier CSV", max_rows)
            cells = _trim([_cell_text(c) for c in record])
            if cells:
                table.rows.append((number, cells))
    except csv.Error as exc:
        raise DocumentError(path, f"fichier CSV mal formé ({exc}).") from exc
    return [table]


def _number_format(cell) -> str:
    value = cell.value
    fmt = getattr(cell, "number_format", "") or ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "0.00" in fmt:
            text = f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
        else:
            text = _cell_text(float(value))
        if "%" in fmt:
            return _cell_text(float(value) * 100) + " %"
        if "€" in fmt:
            return text + " €"
        return text
    return _cell_text(value)


def read_xlsx(path: Path, max_rows: int) -> list[Table]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl errors alike for a broken file
        raise DocumentError(path, f"ce classeur Excel est illisible ({type(exc).__name__}). Est-il corrompu ?") from exc
    tables = []
    try:
        for sheet in book.worksheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue
            label = f"feuille « {sheet.title} »"
            declared = sheet.max_row or 0  # from the sheet's dimension: refuse before reading
            if declared > max_rows + 1:
                raise _row_limit_error(path, f"la {label}", max_rows)
            table = Table(label=label, sheet=sheet.title)
            for number, row in enumerate(sheet.iter_rows(), 1):
                if number > max_rows + 1:
                    raise _row_limit_error(path, f"la {label}", max_rows)
                cells = _trim([_number_format(c) if c.value is not None else "" for c in row])
                if cells:
                    table.rows.append((getattr(row[0], "row", number) or number, cells))
            tables.append(table)
    finally:
        book.close()
    return tables


def odf_encrypted(zf: zipfile.ZipFile) -> bool:
    """An OpenDocument saved with a password lists encryption data in its manifest."""
    try:
        manifest = zf.read("META-INF/manifest.xml")
    except KeyError:
        return False
    return b"encryption-data" in manifest


def read_ods(path: Path, max_rows: int) -> list[Table]:
    from lxml import etree

    table_tag, row_tag = f"{{{_ODS}}}table", f"{{{_ODS}}}table-row"
    cell_tags = (f"{{{_ODS}}}table-cell", f"{{{_ODS}}}covered-table-cell")
    tables: list[Table] = []
    try:
        with zipfile.ZipFile(path) as zf:
            if odf_encrypted(zf):
                raise DocumentError(path, "ce classeur est protégé par un mot de passe : enregistrez-en une "
                                          "copie sans mot de passe (LibreOffice : Fichier > Propriétés) puis réessayez.")
            with zf.open("content.xml") as fh:
                current, number = None, 0
                for event, el in etree.iterparse(fh, events=("start", "end"), tag=(table_tag, row_tag),
                                                 resolve_entities=False, huge_tree=False):
                    if el.tag == table_tag:
                        if event == "start":
                            name = el.get(f"{{{_ODS}}}name", f"Feuille{len(tables) + 1}")
                            current, number = Table(label=f"feuille « {name} »", sheet=name), 0
                        else:
                            tables.append(current)
                            el.clear()
                        continue
                    if event != "end" or current is None:
                        continue
                    repeat = int(el.get(f"{{{_ODS}}}number-rows-repeated", "1"))
                    cells: list[str] = []
                    for cell in el:
                        if cell.tag not in cell_tags:
                            continue
                        span = int(cell.get(f"{{{_ODS}}}number-columns-repeated", "1"))
                        value = _cell_text(" ".join("".join(p.itertext()) for p in cell.iter(f"{{{_TEXT}}}p")))
                        # Cells repeated to the sheet's edge (16384 columns) are capped.
                        cells.extend([value] * min(span, MAX_COLUMNS))
                        if len(cells) > MAX_COLUMNS:
                            break
                    cells = _trim(cells)
                    if cells:  # empty rows repeated to the sheet's end are not expanded either
                        for i in range(repeat):
                            if number + i + 1 > max_rows + 1:
                                raise _row_limit_error(path, f"la {current.label}", max_rows)
                            current.rows.append((number + i + 1, list(cells)))
                    number += repeat
                    el.clear()
                    while el.getprevious() is not None:
                        del el.getparent()[0]
    except DocumentError:
        raise
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, ValueError) as exc:
        raise DocumentError(path, f"ce classeur OpenDocument est illisible ({type(exc).__name__}). Est-il corrompu ?") from exc
    return tables


def html_table_rows(html: str) -> list[list[str]]:
    """Cells of an HTML table (as unstructured gives a document's tables), row by row."""
    from lxml import html as lhtml

    try:
        root = lhtml.fromstring(html)
    except Exception:
        return []
    rows = []
    for tr in root.iter("tr"):
        rows.append(_trim([_cell_text(" ".join(td.itertext())) for td in tr if td.tag in ("td", "th")]))
    return rows
