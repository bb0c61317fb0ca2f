"""Documents: what is indexed, adding an uploaded file safely, deleting one.

Uploads land only in the corpus directory, under a sanitised name, after checks that
cost nothing to run before parsing: size limit, supported extension, a real PDF/DOCX
signature, and for DOCX (a zip) the uncompressed size and ratio, so a zip bomb is refused
before any parser opens it. The same content uploaded twice is recognised by its hash.
Indexing itself is `ingest.ingest` on that one file; deletion removes the file and lets
`ingest` drop its passages. A file that cannot be indexed is taken back out of the corpus
(or the previous version put back), so the corpus never keeps a document the index lacks.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from .corpus import (IGNORED_NAMES, MANIFEST_NAME, document_info, file_hash, list_files, read_manifest,
                     remove_manifest_entry, set_manifest_entry)
from .errors import AssistantError
from .settings import Settings

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".pdf", ".docx")
# DOCX is a zip: refuse before parsing when it would inflate past these.
DOCX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_MAX_ENTRIES = 2000

# One corpus change at a time in this process (ingest is not process-safe either).
write_lock = threading.Lock()


class UploadError(AssistantError):
    """An uploaded file was refused; the message says why, in French."""


@dataclass
class AddResult:
    doc_id: str
    message: str
    added: bool  # False when the same content was already there
    chunks: int = 0
    errors: list[str] = field(default_factory=list)


# ----- names and checks ------------------------------------------------------------------
def safe_name(name: str) -> str:
    """A file name with no directory part, no hidden prefix and only plain characters.
    "../../etc/passwd.txt" becomes "passwd.txt"; accents are kept as plain letters."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^A-Za-z0-9_\-]+", "-", stem).strip("-._")[:100] or "document"
    suffix = re.sub(r"[^A-Za-z0-9]", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def _check_docx(path: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > DOCX_MAX_ENTRIES:
                raise UploadError("ce fichier DOCX contient trop d'éléments : refusé par sécurité.")
            total = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if total > max(DOCX_MAX_UNCOMPRESSED, max_bytes) or total / packed > DOCX_MAX_RATIO:
                raise UploadError(
                    f"ce fichier DOCX se décompresse en {total // (1024 * 1024)} Mo (taux {total // packed}:1) : "
                    "refusé par sécurité (archive piégée ou anormale).")
            if "word/document.xml" not in zf.namelist():
                raise UploadError("ce fichier n'est pas un document Word (.docx) valide.")
    except zipfile.BadZipFile as exc:
        raise UploadError("ce fichier .docx est corrompu ou n'est pas un document Word.") from exc


def check_upload(path: Path, name: str, settings: Settings) -> str:
    """Refuse what must not reach the parsers; returns the sanitised target name."""
    target = safe_name(name)
    suffix = Path(target).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(
            f"« {name} » : format {suffix or '(sans extension)'} non pris en charge. "
            f"Formats acceptés : {', '.join(UPLOAD_SUFFIXES)}.")
    if target in IGNORED_NAMES:
        raise UploadError(f"« {name} » : ce nom est réservé ; renommez le fichier.")
    size = path.stat().st_size
    max_bytes = settings.upload_max_mb * 1024 * 1024
    if size > max_bytes:
        raise UploadError(f"« {name} » : fichier trop volumineux ({size / 1048576:.1f} Mo, "
                          f"maximum {settings.upload_max_mb} Mo).")
    if size == 0:
        raise UploadError(f"« {name} » : le fichier est vide.")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if suffix == ".pdf" and not head.startswith(b"%PDF"):
        raise UploadError(f"« {name} » : ce fichier n'est pas un PDF valide.")
    if suffix == ".docx":
        if not head.startswith(b"PK"):
            raise UploadError(f"« {name} » : ce fichier n'est pas un document Word (.docx) valide.")
        try:
            _check_docx(path, max_bytes)
        except UploadError as exc:
            raise UploadError(f"« {name} » : {exc}") from None
    return target


# ----- manifest --------------------------------------------------------------------------
def _toml_string(value: str) -> str:
    # A JSON string with no control characters is a valid TOML basic string.
    return json.dumps(re.sub(r"[\x00-\x1f\x7f]", " ", value), ensure_ascii=False)


def _add_manifest_entry(corpus_dir: Path, file: str, meta: dict) -> None:
    fields = {k: str(v).strip() for k, v in meta.items() if k in ("title", "publisher", "date", "kind") and str(v or "").strip()}
    if not fields or file in read_manifest(corpus_dir):
        return
    lines = ["", "[[document]]", f"file = {_toml_string(file)}"]
    lines += [f"{k} = {_toml_string(v[:300])}" for k, v in fields.items()]
    with open(corpus_dir / MANIFEST_NAME, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


# ----- add, delete, list -----------------------------------------------------------------
def add_document(settings: Settings, upload: Path, name: str, meta: dict | None = None,
                 progress: Callable[..., None] | None = None) -> AddResult:
    """Check, copy into the corpus and index one uploaded file."""
    from .ingest import ingest

    upload = Path(upload)
    target_name = check_upload(upload, name, settings)
    corpus = settings.corpus_dir.resolve()
    corpus.mkdir(parents=True, exist_ok=True)
    digest = file_hash(upload)
    with write_lock:
        files, _ = list_files(corpus)
        for existing in files:
            if file_hash(existing) == digest:
                doc_id = existing.relative_to(corpus).as_posix()
                return AddResult(doc_id, f"Ce document est déjà dans le corpus (« {doc_id} ») : rien à ajouter.",
                                 added=False)
        target = corpus / target_name
        if target.resolve().parent != corpus:  # belt and braces: never outside the corpus
            raise UploadError("nom de fichier refusé.")
        backup = None
        if target.exists():  # same name, new content: a new version of that document
            backup = Path(tempfile.mkstemp(prefix=".previous-", dir=corpus)[1])
            shutil.copy2(target, backup)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=target.suffix, dir=corpus)  # hidden: not a document yet
        os.close(fd)
        try:
            shutil.copyfile(upload, tmp)
            os.replace(tmp, target)
            if meta:
                _add_manifest_entry(corpus, target_name, meta)
            report = ingest(settings, paths=[target], progress=progress or (lambda *a, **k: None))
        except AssistantError:
            _restore(target, backup)
            raise
        except Exception as exc:  # a parser's own exception: still a French message
            _restore(target, backup)
            log.exception("indexing %s failed", target.name)
            raise UploadError(f"« {target.name} » : le fichier n'a pas pu être indexé ({type(exc).__name__})."
                              + (" L'ancienne version est conservée." if backup else "")) from exc
        finally:
            Path(tmp).unlink(missing_ok=True)
        mine = [e for e in report.errors if target.name in e]
        if mine:
            _restore(target, backup)  # the index kept the previous version, if any: in step again
            raise UploadError(_short_error(mine[0], target.name) +
                              (" L'ancienne version est conservée." if backup else " Le fichier n'a pas été ajouté."))
        if backup:
            backup.unlink(missing_ok=True)
        chunks = _chunk_count(settings, target_name)
        verb = "mis à jour" if backup else "ajouté"
        return AddResult(target_name, f"Document « {target_name} » {verb} et indexé : {chunks} passage"
                                      f"{'s' if chunks > 1 else ''}.",
                         added=True, chunks=chunks, errors=report.errors)


def _short_error(error: str, name: str) -> str:
    # ingest names the file by its full path; the user knows it by its name.
    return re.sub(r"^.*?" + re.escape(name) + r" : ", f"« {name} » : ", error)


def _restore(target: Path, backup: Path | None) -> None:
    if backup is not None:
        os.replace(backup, target)
    else:
        target.unlink(missing_ok=True)


def delete_document(settings: Settings, doc_id: str) -> str:
    """Remove one document from the corpus and the index; returns a French message."""
    from .ingest import ingest

    corpus = settings.corpus_dir.resolve()
    with write_lock:
        known = {d["doc_id"] for d in list_documents(settings)}
        if doc_id not in known:
            raise UploadError(f"Document « {doc_id} » introuvable dans l'index.")
        path = (corpus / doc_id).resolve()
        if corpus not in path.parents:
            raise UploadError("chemin de document refusé.")
        files, _ = list_files(corpus)
        if path in files and len(files) == 1:
            raise UploadError("C'est le dernier document du corpus : ajoutez-en un autre avant de le supprimer.")
        path.unlink(missing_ok=True)
        report = ingest(settings)
        dropped = _drop_manifest_entry(corpus, doc_id)
        return (f"Document « {doc_id} » supprimé du corpus et de l'index ({report.documents} documents restants)"
                + (", et sa fiche retirée du manifeste." if dropped else "."))


def _drop_manifest_entry(corpus: Path, doc_id: str) -> bool:
    """Remove the deleted document's entry (keyed by its path; a bare-name entry of a file in a
    subfolder may describe other files, so it stays)."""
    try:
        dropped = remove_manifest_entry(corpus, doc_id)
    except AssistantError as exc:  # the document is gone already; a broken manifest is only logged
        log.warning("manifest entry of %s not removed: %s", doc_id, exc)
        return False
    return dropped


# ----- correcting metadata ---------------------------------------------------------------
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
METADATA_MAX_CHARS = 300


def _check_date(value: str) -> str:
    m = _DATE.match(value)
    if not m:
        raise UploadError(f"date « {value} » non reconnue : écrivez-la AAAA, AAAA-MM ou AAAA-MM-JJ "
                          "(par exemple 2024-03-15), ou laissez le champ vide.")
    try:
        datetime(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        raise UploadError(f"date « {value} » impossible (mois ou jour hors limites).") from None
    return value


def update_metadata(settings: Settings, doc_id: str, title: str = "", date: str = "", publisher: str = "",
                    progress: Callable[..., None] | None = None) -> str:
    """An admin's correction of a document's title, date and publisher: written to the manifest,
    then that document re-indexed so citations show it (its passages keep their vectors when
    their text is unchanged). An empty field goes back to what the file itself says. On failure
    the manifest is put back as it was. Returns a French message."""
    from .ingest import ingest

    fields = {"title": " ".join((title or "").split()), "date": (date or "").strip(),
              "publisher": " ".join((publisher or "").split())}
    for key, label in (("title", "titre"), ("publisher", "éditeur")):
        if len(fields[key]) > METADATA_MAX_CHARS:
            raise UploadError(f"« {doc_id} » : {label} trop long ({len(fields[key])} caractères, "
                              f"{METADATA_MAX_CHARS} au plus).")
    if fields["date"]:
        try:
            _check_date(fields["date"])
        except UploadError as exc:
            raise UploadError(f"« {doc_id} » : {exc}") from None
    corpus = settings.corpus_dir.resolve()
    with write_lock:
        if doc_id not in {d["doc_id"] for d in list_documents(settings)}:
            raise UploadError(f"Document « {doc_id} » introuvable dans l'index.")
        path = (corpus / doc_id).resolve()
        if corpus not in path.parents or not path.is_file():
            raise UploadError(f"Le fichier du document « {doc_id} » n'est plus dans le corpus.")
        manifest_path = corpus / MANIFEST_NAME
        saved = manifest_path.read_bytes() if manifest_path.exists() else None
        manifest = read_manifest(corpus)
        # An entry under the bare name is this document's only when it sits at the top of the corpus.
        key = doc_id if doc_id in manifest or "/" in doc_id or path.name not in manifest else path.name
        set_manifest_entry(corpus, key, fields, copy_from=path.name if path.name in manifest else None)
        try:
            report = ingest(settings, paths=[path], progress=progress or (lambda *a, **k: None))
            mine = [e for e in report.errors if path.name in e]
            if mine:
                raise UploadError(_short_error(mine[0], path.name))
        except BaseException:
            if saved is None:
                manifest_path.unlink(missing_ok=True)
            else:  # atomically, as it was written
                fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=corpus)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(saved)
                os.replace(tmp, manifest_path)
            raise
        rec = _registry(settings).get(doc_id)
    shown = f"« {rec.title} », {rec.date}, {rec.publisher}" if rec else ""
    return (f"Métadonnées de « {doc_id} » enregistrées dans {MANIFEST_NAME} ; les citations affichent "
            f"désormais {shown}.")


def _registry(settings: Settings):
    from .store import Store

    store = Store(settings)
    ready = store.ready_generation()
    if not ready:
        return {}
    return store.documents(ready[0])


def _chunk_count(settings: Settings, doc_id: str) -> int:
    rec = _registry(settings).get(doc_id)
    return len(rec.chunk_ids) if rec else 0


def list_documents(settings: Settings) -> list[dict]:
    """Indexed documents with their passage counts, newest date first."""
    manifest = read_manifest(settings.corpus_dir) if settings.corpus_dir.is_dir() else {}
    out = []
    for doc_id, rec in _registry(settings).items():
        entry = manifest.get(doc_id) or manifest.get(Path(doc_id).name) or {}
        out.append({
            "doc_id": doc_id, "title": rec.title, "publisher": rec.publisher, "date": rec.date,
            "kind": rec.kind, "chunks": len(rec.chunk_ids), "notes": str(entry.get("notes", "")),
            "indexed_at": datetime.fromtimestamp(rec.ingested_at).strftime("%Y-%m-%d %H:%M") if rec.ingested_at else "",
            "format": Path(doc_id).suffix.lower().lstrip("."),
        })
    out.sort(key=lambda d: (d["date"] if d["date"][:1].isdigit() else "0", d["title"]), reverse=True)
    return out


# ----- the text a citation's line numbers refer to ----------------------------------------
@functools.lru_cache(maxsize=16)
def _reference_text(path: str, digest: str, corpus: str, ocr_cache: str = "", max_rows: int = 100_000) -> str:
    from .load import LoadOptions, load_document

    p = Path(path)
    info = document_info(p, Path(corpus), read_manifest(Path(corpus)))
    # Scanned pages come from the OCR cache ingestion filled, not from a new OCR run.
    return load_document(info, LoadOptions(max_table_rows=max_rows,
                                             ocr_cache=Path(ocr_cache) if ocr_cache else None)).text


def document_text(settings: Settings, doc_id: str) -> str:
    """The reference text of an indexed document: the file itself for .txt/.md, the
    extracted text for HTML, PDF and DOCX (what `start_line`/`end_line` count)."""
    from .load import TEXT_SUFFIXES, decode_text

    known = {d["doc_id"] for d in list_documents(settings)}
    if doc_id not in known:
        raise UploadError(f"Document « {doc_id} » introuvable dans l'index.")
    corpus = settings.corpus_dir.resolve()
    path = (corpus / doc_id).resolve()
    if corpus not in path.parents or not path.is_file():
        raise UploadError(f"Le fichier du document « {doc_id} » n'est plus dans le corpus.")
    if path.suffix.lower() in TEXT_SUFFIXES:
        return decode_text(path.read_bytes(), path)
    return _reference_text(str(path), hashlib.sha256(path.read_bytes()).hexdigest(), str(corpus),
                           str(Path(settings.index_dir) / "ocr"), settings.max_table_rows)
