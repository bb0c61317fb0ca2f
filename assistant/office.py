"""Office formats unstructured does not read itself: converted to DOCX by Debian's tools.

.odt and .rtf go through pandoc (what unstructured itself uses for them, fast); .doc, and
.odt/.rtf when pandoc is missing or fails, through LibreOffice headless. Each LibreOffice
call gets its own profile directory, so parallel calls (tests, other users) do not collide.
.odp slides are read straight from their XML. Password-protected files are recognised
before any converter sees them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .errors import DocumentError
from .tables import odf_encrypted

CONVERT_TIMEOUT = 180
PANDOC_HINT = "installez le paquet Debian pandoc (scripts/setup le fait)"
SOFFICE_HINT = "installez le paquet Debian libreoffice-writer-nogui (scripts/setup le fait)"
PASSWORD_HINT = ("il est protégé par un mot de passe : enregistrez-en une copie sans mot de passe "
                 "puis réessayez.")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def check_not_encrypted(path: Path) -> None:
    """Refuse password-protected OpenDocument and Office files with a clear message."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    suffix = path.suffix.lower()
    if suffix in (".odt", ".ods", ".odp") and head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                if odf_encrypted(zf):
                    raise DocumentError(path, PASSWORD_HINT)
        except zipfile.BadZipFile as exc:
            raise DocumentError(path, "ce fichier OpenDocument est corrompu (archive illisible).") from exc
    elif suffix in (".odt", ".ods", ".odp"):
        raise DocumentError(path, "ce fichier OpenDocument est corrompu (ce n'est pas une archive valide).")
    if suffix in (".docx", ".xlsx") and head.startswith(_OLE_MAGIC):
        import olefile

        try:
            with olefile.OleFileIO(str(path)) as ole:
                if ole.exists("EncryptionInfo"):
                    raise DocumentError(path, PASSWORD_HINT)
        except OSError:
            pass
        raise DocumentError(path, "ce fichier porte l'extension d'un format Office récent mais n'en est pas un "
                                  "(ancien format ?) : enregistrez-le au format .docx ou .xlsx.")
    if suffix == ".doc" and head.startswith(_OLE_MAGIC):
        import olefile

        try:
            with olefile.OleFileIO(str(path)) as ole:
                if ole.exists("WordDocument"):
                    stream = ole.openstream("WordDocument").read(12)
                    if len(stream) >= 12 and stream[11] & 0x01:  # FIB fEncrypted flag
                        raise DocumentError(path, PASSWORD_HINT)
        except OSError:
            pass


def _pandoc_to_docx(path: Path, out: Path) -> str | None:
    """None on success, else the reason (so LibreOffice can be tried)."""
    exe = shutil.which("pandoc")
    if not exe:
        return "pandoc absent"
    fmt = {".odt": "odt", ".rtf": "rtf"}[path.suffix.lower()]
    try:
        done = subprocess.run([exe, "--sandbox", "-f", fmt, "-t", "docx", "-o", str(out), str(path)],
                              capture_output=True, timeout=CONVERT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"pandoc interrompu après {CONVERT_TIMEOUT} s"
    if done.returncode != 0 or not out.exists():
        return done.stderr.decode("utf-8", "replace").strip()[:200] or "échec de pandoc"
    return None


def _soffice_to(path: Path, target: str, out_dir: Path) -> Path:
    exe = soffice()
    if not exe:
        raise DocumentError(path, f"LibreOffice est nécessaire pour lire ce format : {SOFFICE_HINT}.")
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        try:
            done = subprocess.run(
                [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                 "--convert-to", target, "--outdir", str(out_dir), str(path)],
                capture_output=True, timeout=CONVERT_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise DocumentError(path, f"la conversion par LibreOffice a dépassé {CONVERT_TIMEOUT} s.") from exc
    produced = out_dir / (path.stem + "." + target.split(":")[0])
    if done.returncode != 0 or not produced.exists() or produced.stat().st_size == 0:
        raise DocumentError(path, "LibreOffice n'a pas pu convertir ce fichier : est-il corrompu ou protégé "
                                  "par un mot de passe ?")
    return produced


def to_docx(path: Path, work_dir: Path) -> Path:
    """A DOCX copy of an .odt, .rtf or .doc file, in work_dir."""
    check_not_encrypted(path)
    suffix = path.suffix.lower()
    if suffix in (".odt", ".rtf"):
        out = work_dir / (path.stem + ".docx")
        reason = _pandoc_to_docx(path, out)
        if reason is None:
            return out
        if not soffice():
            hint = PANDOC_HINT if reason == "pandoc absent" else f"pandoc a échoué ({reason})"
            raise DocumentError(path, f"ce fichier n'a pas pu être converti : {hint}.")
    return _soffice_to(path, "docx", work_dir)


def read_odp(path: Path) -> list[tuple[int, list[str]]]:
    """(slide number, paragraphs) of an OpenDocument presentation."""
    from lxml import etree

    check_not_encrypted(path)
    try:
        with zipfile.ZipFile(path) as zf, zf.open("content.xml") as fh:
            root = etree.parse(fh, etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        raise DocumentError(path, f"cette présentation est illisible ({type(exc).__name__}). Est-elle corrompue ?") from exc
    slides = []
    for number, page in enumerate(root.iter(f"{{{_DRAW}}}page"), 1):
        paras = []
        for el in page.iter(f"{{{_TEXT}}}p", f"{{{_TEXT}}}h"):
            text = " ".join("".join(el.itertext()).split())
            if text:
                paras.append(text)
        slides.append((number, paras))
    return slides


# ----- document properties: title, date, publisher without a manifest ----------------------
PROPERTY_SUFFIXES = {".pdf", ".docx", ".xlsx", ".odt", ".ods", ".odp"}
_META_MAX_BYTES = 1 << 20  # meta.xml / core.xml are a few kB; more is not worth reading
# What tools write when nobody filled the field in: not a title or a publisher.
_GENERIC = re.compile(r"^(python-docx|openpyxl|microsoft office (user|utilisateur)|utilisateur( windows)?|"
                      r"windows user|user|admin(istrateur|istrator)?|auteur|author|unknown|inconnu|"
                      r"document\d*|untitled|sans titre|titre|title|word document|"
                      r"microsoft word - .*|diapositive \d+|feuil\d+|sheet\d+)$", re.IGNORECASE)
# python-docx's template carries this creation date: it says nothing about the document.
_TEMPLATE_DATES = {("python-docx", "2013-12-23")}
_DC = "http://purl.org/dc/elements/1.1/"
_DCTERMS = "http://purl.org/dc/terms/"
_META_ODF = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
_OOXML_APP = "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"


def _clean_value(value) -> str:
    text = " ".join(str(value or "").replace("\x00", " ").split())[:300]
    return "" if not text or _GENERIC.match(text) else text


def _iso_date(value: str) -> str:
    """YYYY-MM-DD (or YYYY-MM, YYYY) from an ISO or PDF date; "" if there is none."""
    m = re.match(r"(?:D:)?(\d{4})(?:-?(\d{2}))?(?:-?(\d{2}))?", (value or "").strip())
    if not m or not 1900 <= int(m.group(1)) <= 2100:
        return ""
    return "-".join(g for g in m.groups() if g)


def _zip_xml(zf: zipfile.ZipFile, name: str):
    from lxml import etree

    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _META_MAX_BYTES:
        return None
    return etree.fromstring(zf.read(name), etree.XMLParser(resolve_entities=False, no_network=True))


def _first(root, *tags) -> str:
    for tag in tags:
        for el in (root.iter(tag) if root is not None else ()):
            if (el.text or "").strip():
                return el.text.strip()
    return ""


def _props(title: str, date: str, publisher: str, creator: str = "") -> dict:
    out = {"title": _clean_value(title), "date": _iso_date(date), "publisher": _clean_value(publisher)}
    if (creator.strip().lower(), out["date"]) in _TEMPLATE_DATES:
        out["date"] = ""
    return {k: v for k, v in out.items() if v}


def document_properties(path: Path) -> dict:
    """Title, date and publisher a file's own properties give (PDF info dictionary, Office core
    properties, OpenDocument meta.xml); fields left empty or filled by a tool are left out.
    Never raises: a file whose properties cannot be read has none (loading reports it)."""
    suffix = path.suffix.lower()
    if suffix not in PROPERTY_SUFFIXES:
        return {}
    try:
        if suffix == ".pdf":
            import pypdfium2 as pdfium

            pdf = pdfium.PdfDocument(str(path))
            try:
                meta = pdf.get_metadata_dict()
            finally:
                pdf.close()
            return _props(meta.get("Title", ""), meta.get("CreationDate", "") or meta.get("ModDate", ""),
                          meta.get("Author", ""))
        with zipfile.ZipFile(path) as zf:
            if suffix in (".odt", ".ods", ".odp"):
                if odf_encrypted(zf):
                    return {}
                root = _zip_xml(zf, "meta.xml")
                creator = _first(root, f"{{{_META_ODF}}}initial-creator", f"{{{_DC}}}creator")
                return _props(_first(root, f"{{{_DC}}}title"),
                              _first(root, f"{{{_META_ODF}}}creation-date", f"{{{_DC}}}date"),
                              _first(root, f"{{{_DC}}}publisher") or creator, creator)
            core = _zip_xml(zf, "docProps/core.xml")
            app = _zip_xml(zf, "docProps/app.xml")
            creator = _first(core, f"{{{_DC}}}creator")
            return _props(_first(core, f"{{{_DC}}}title"), _first(core, f"{{{_DCTERMS}}}created"),
                          _first(app, f"{{{_OOXML_APP}}}Company") or _first(core, f"{{{_DC}}}publisher") or creator,
                          creator)
    except Exception:  # noqa: BLE001 - corrupt, encrypted or odd files: loading gives the message
        return {}
