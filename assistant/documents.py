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
import time
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from .corpus import (IGNORED_NAMES, MANIFEST_NAME, document_info, file_hash, list_files, read_manifest,
                     remove_manifest_entry, set_manifest_entry)
from .errors import AssistantError
from .settings import Settings

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".pdf", ".docx", ".odt", ".doc", ".rtf", ".odp", ".xlsx", ".ods",
                   ".csv")
ZIP_SUFFIX = ".zip"  # a folder: its tree lands under corpus/<folder name>/
# DOCX is a zip: refuse before parsing when it would inflate past these.
DOCX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_MAX_ENTRIES = 2000
# A .zip of a folder: the same kind of limits, on the whole archive, before anything is extracted.
# Module-level settings for now (settings.py is being restructured), each with its env variable.
ZIP_MAX_RATIO = DOCX_MAX_RATIO
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What each zip-based format must hold to be what its extension says.
_ZIP_FORMATS = {".docx": ("word/document.xml", "document Word (.docx)"),
                ".xlsx": ("xl/workbook.xml", "classeur Excel (.xlsx)"),
                ".odt": ("content.xml", "document OpenDocument (.odt)"),
                ".ods": ("content.xml", "classeur OpenDocument (.ods)"),
                ".odp": ("content.xml", "présentation OpenDocument (.odp)")}

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


def _check_docx(path: Path, max_bytes: int, suffix: str = ".docx") -> None:
    """A zip-based office file: refused before parsing when it would inflate abnormally."""
    member, label = _ZIP_FORMATS[suffix]
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > DOCX_MAX_ENTRIES:
                raise UploadError(f"ce fichier {suffix.upper()[1:]} contient trop d'éléments : refusé par sécurité.")
            total = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if total > max(DOCX_MAX_UNCOMPRESSED, max_bytes) or total / packed > DOCX_MAX_RATIO:
                raise UploadError(
                    f"ce fichier {suffix.upper()[1:]} se décompresse en {total // (1024 * 1024)} Mo "
                    f"(taux {total // packed}:1) : refusé par sécurité (archive piégée ou anormale).")
            if member not in zf.namelist():
                raise UploadError(f"ce fichier n'est pas un {label} valide.")
    except zipfile.BadZipFile as exc:
        raise UploadError(f"ce fichier {suffix} est corrompu ou n'est pas un {label}.") from exc


def check_upload(path: Path, name: str, settings: Settings) -> str:
    """Refuse what must not reach the parsers; returns the sanitised target name."""
    target = safe_name(name)
    suffix = Path(target).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(
            f"« {name} » : format {suffix or '(sans extension)'} non pris en charge. "
            f"Formats acceptés : {', '.join(UPLOAD_SUFFIXES)}, ou un dossier en {ZIP_SUFFIX}.")
    if target in IGNORED_NAMES:
        raise UploadError(f"« {name} » : ce nom est réservé ; renommez le fichier.")
    size = path.stat().st_size
    max_bytes = settings.upload_max_mb * 1024 * 1024
    if size > max_bytes:
        raise UploadError(f"« {name} » : fichier trop volumineux ({size / 1048576:.1f} Mo, "
                          f"maximum {settings.upload_max_mb} Mo, réglage ASSISTANT_UPLOAD_MAX_MB).")
    if size == 0:
        raise UploadError(f"« {name} » : le fichier est vide.")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if suffix == ".pdf" and not head.startswith(b"%PDF"):
        raise UploadError(f"« {name} » : ce fichier n'est pas un PDF valide.")
    if suffix == ".doc" and not head.startswith(_OLE_MAGIC):
        raise UploadError(f"« {name} » : ce fichier n'est pas un document Word 97-2003 (.doc) valide.")
    if suffix == ".rtf" and not head.startswith(b"{\\rtf"):
        raise UploadError(f"« {name} » : ce fichier n'est pas un document RTF valide.")
    if suffix in _ZIP_FORMATS:
        if suffix in (".docx", ".xlsx") and head.startswith(_OLE_MAGIC):
            return target  # an encrypted Office file: loading says it needs its password
        if not head.startswith(b"PK"):
            raise UploadError(f"« {name} » : ce fichier n'est pas un {_ZIP_FORMATS[suffix][1]} valide.")
        try:
            _check_docx(path, max_bytes, suffix)
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


# ----- several files, or a .zip of a folder ------------------------------------------------
@dataclass
class BatchResult:
    added: list[str] = field(default_factory=list)  # doc ids indexed for the first time
    updated: list[str] = field(default_factory=list)  # new versions of indexed documents
    unchanged: list[str] = field(default_factory=list)  # "name : déjà présent sous …"
    refused: list[str] = field(default_factory=list)  # French messages, each naming its file
    ignored: list[str] = field(default_factory=list)  # junk files of a folder, with the reason
    chunks: int = 0

    @property
    def message(self) -> str:
        lines = []
        if self.added or self.updated:
            lines.append(f"{len(self.added) + len(self.updated)} document(s) indexé(s) ({len(self.added)} ajouté(s), "
                         f"{len(self.updated)} mis à jour) : {self.chunks} passages.")
        else:
            lines.append("Aucun document ajouté.")
        for title, items in (("Ajoutés", self.added), ("Mis à jour", self.updated), ("Déjà présents", self.unchanged),
                             ("Refusés", self.refused), ("Ignorés", self.ignored)):
            if items:
                lines.append(f"{title} : " + " ; ".join(items))
        return "\n".join(lines)


def _zip_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # no UTF-8 flag: Windows wrote it in the OEM code page (cp850 in France)
        try:
            name = name.encode("cp437").decode("cp850")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def check_zip(path: Path, name: str, max_mb: int, max_files: int) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The files of a .zip with their (unsanitised) relative parts, after the checks that refuse
    the whole archive before anything is extracted: paths escaping the folder (absolute, « .. »,
    drive letters, links), encrypted entries, too many files, too large or too compressed."""
    import stat

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"« {name} » : cette archive .zip est corrompue ou illisible.") from exc
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_files:
        raise UploadError(f"« {name} » : l'archive contient {len(files)} fichiers, plus que les {max_files} "
                          "acceptés (réglage ASSISTANT_ZIP_MAX_FILES) : refusée par sécurité.")
    total = sum(i.file_size for i in files)
    packed = max(1, sum(i.compress_size for i in files))
    if total > max_mb * 1024 * 1024:
        raise UploadError(f"« {name} » : l'archive se décompresse en {total // (1024 * 1024)} Mo, plus que les "
                          f"{max_mb} Mo acceptés (réglage ASSISTANT_ZIP_MAX_MB) : refusée par sécurité.")
    if total / packed > ZIP_MAX_RATIO:
        raise UploadError(f"« {name} » : l'archive se décompresse {total // packed} fois plus grosse qu'elle "
                          f"n'est (au plus {ZIP_MAX_RATIO}) : refusée par sécurité (archive piégée ?).")
    out = []
    for info in files:
        entry = _zip_name(info)
        parts = tuple(p for p in re.split(r"[\\/]", entry) if p not in ("", "."))
        if (entry.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", entry) or ".." in parts
                or stat.S_ISLNK(info.external_attr >> 16)):
            raise UploadError(f"« {name} » : l'archive contient un chemin qui sort du dossier (« {entry} ») : "
                              "refusée par sécurité, rien n'a été extrait.")
        if info.flag_bits & 0x1:
            raise UploadError(f"« {name} » : l'archive est protégée par un mot de passe (« {entry} ») : "
                              "créez-en une sans mot de passe.")
        if parts:
            out.append((info, parts))
    return out


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: list[int], name: str) -> None:
    """Stream one entry out, never past its declared size nor the archive's budget (sizes can lie)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as src, open(dest, "wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            written += len(block)
            budget[0] -= len(block)
            if written > info.file_size or budget[0] < 0:
                raise UploadError(f"« {name} » : l'archive contient plus de données qu'elle n'en annonce : "
                                  "refusée par sécurité (archive piégée ?).")
            out.write(block)


def _unpack_zip(path: Path, name: str, work: Path, result: BatchResult, settings: Settings) -> list[tuple[Path, str]]:
    """(extracted file, doc id it will have) for each document of the archive; junk and
    unsupported files are named in `result`. A folder zipped whole (one top folder) keeps its
    name; otherwise the archive's name is the folder."""
    from .corpus import SUPPORTED_SUFFIXES, junk_reason

    entries = check_zip(path, name, settings.zip_max_mb, settings.zip_max_files)
    if not entries:
        raise UploadError(f"« {name} » : l'archive ne contient aucun fichier.")
    tops = {parts[0] for _, parts in entries}
    nested = len(tops) == 1 and all(len(parts) > 1 for _, parts in entries)
    root = safe_name(next(iter(tops))) if nested else safe_name(Path(name).stem)
    out, seen = [], set()
    budget = [settings.zip_max_mb * 1024 * 1024]
    hidden_dirs: set[str] = set()
    with zipfile.ZipFile(path) as zf:
        for info, parts in entries:
            rel = parts[1:] if nested else parts
            shown = f"{name}/{'/'.join(parts)}"
            hidden = next((p for p in rel[:-1] if p.startswith(".")), None)
            if hidden:
                if hidden not in hidden_dirs:
                    hidden_dirs.add(hidden)
                    result.ignored.append(f"{name}/…/{hidden} : dossier caché, ignoré")
                continue
            reason = junk_reason(rel) or (None if Path(rel[-1]).suffix.lower() in SUPPORTED_SUFFIXES else
                                          f"format {Path(rel[-1]).suffix or '(sans extension)'} non pris en charge")
            if reason:
                (result.refused if reason.startswith("format") else result.ignored).append(f"{shown} : {reason}")
                continue
            doc_id = "/".join([root, *(safe_name(p) for p in rel[:-1]), safe_name(rel[-1])])
            if doc_id.lower() in seen:
                result.refused.append(f"{shown} : même nom qu'un autre fichier de l'archive une fois nettoyé "
                                      f"(« {doc_id} »), ignoré")
                continue
            seen.add(doc_id.lower())
            dest = work / doc_id
            try:
                _extract(zf, info, dest, budget, name)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                # CRC or size mismatch (zipfile stops at the declared size), unknown compression
                raise UploadError(f"« {name} » : l'archive est corrompue ou anormale (« {'/'.join(parts)} » : "
                                  f"{type(exc).__name__}) : refusée, rien n'a été ajouté.") from exc
            out.append((dest, doc_id))
    return out


def add_documents(settings: Settings, uploads: list[tuple[Path, str]],
                  progress: Callable[..., None] | None = None) -> BatchResult:
    """Several uploaded files and/or .zip folders, indexed in one run. Each file is checked as
    a single upload is; a refused one is named with its reason and the others go on. A file
    that fails to index is taken back out (or its previous version put back), so nothing
    already indexed is lost."""
    from .ingest import ingest

    result = BatchResult()
    corpus = settings.corpus_dir.resolve()
    corpus.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="assistant-upload-") as tmp:
        work = Path(tmp)
        candidates: list[tuple[Path, str, str]] = []  # (file, doc id, name shown)
        for upload, name in uploads:
            upload = Path(upload)
            try:
                if safe_name(name).lower().endswith(ZIP_SUFFIX):
                    size = upload.stat().st_size
                    if size > settings.upload_max_mb * 1024 * 1024:
                        raise UploadError(f"« {name} » : archive trop volumineuse ({size / 1048576:.1f} Mo, maximum "
                                          f"{settings.upload_max_mb} Mo, réglage ASSISTANT_UPLOAD_MAX_MB).")
                    candidates += [(f, doc_id, f"{name}/{doc_id.partition('/')[2] or doc_id}")
                                   for f, doc_id in _unpack_zip(upload, name, work / f"zip{len(candidates)}", result, settings)]
                else:
                    candidates.append((upload, safe_name(name), name))
            except UploadError as exc:
                result.refused.append(str(exc))
        checked: list[tuple[Path, str, str]] = []
        for f, doc_id, shown in candidates:
            try:
                check_upload(f, shown, settings)
                checked.append((f, doc_id, shown))
            except UploadError as exc:
                result.refused.append(str(exc))
        with write_lock:
            present = {file_hash(p): p.relative_to(corpus).as_posix() for p in list_files(corpus)[0]}
            placed: dict[str, tuple[Path, Path | None, str]] = {}  # doc id -> (target, backup, shown)
            try:
                for f, doc_id, shown in checked:
                    digest = file_hash(f)
                    if digest in present:
                        result.unchanged.append(f"{shown} : déjà présent sous « {present[digest]} »")
                        continue
                    target = (corpus / doc_id).resolve()
                    if corpus not in target.parents or doc_id in placed:  # belt and braces
                        result.refused.append(f"« {shown} » : nom de fichier refusé.")
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    backup = None
                    if target.exists():
                        backup = Path(tempfile.mkstemp(prefix=".previous-", dir=corpus)[1])
                        shutil.copy2(target, backup)
                    fd, part = tempfile.mkstemp(prefix=".upload-", dir=target.parent)  # hidden until complete
                    os.close(fd)
                    shutil.copyfile(f, part)
                    os.replace(part, target)
                    present[digest] = doc_id
                    placed[doc_id] = (target, backup, shown)
                if placed:
                    report = ingest(settings, paths=[t for t, _, _ in placed.values()],
                                    progress=progress or (lambda *a, **k: None))
                    for doc_id, (target, backup, shown) in placed.items():
                        mine = [e for e in report.errors if f"{target} :" in e or e.startswith(f"{doc_id} :")]
                        if mine:
                            _restore(target, backup)
                            result.refused.append(_short_error(mine[0], target.name).replace(
                                f"« {target.name} »", f"« {shown} »", 1)
                                + (" L'ancienne version est conservée." if backup else ""))
                        else:
                            (result.updated if backup else result.added).append(doc_id)
                            if backup:
                                backup.unlink(missing_ok=True)
            except BaseException:
                for target, backup, _ in placed.values():
                    if target.exists() and (backup is None or backup.exists()):
                        _restore(target, backup)
                raise
            registry = _registry(settings)
            result.chunks = sum(len(registry[d].chunk_ids) for d in result.added + result.updated if d in registry)
    return result


def _short_error(error: str, name: str) -> str:
    # ingest names the file by its full path; the user knows it by its name.
    return re.sub(r"^.*?" + re.escape(name) + r" : ", f"« {name} » : ", error)


def _restore(target: Path, backup: Path | None) -> None:
    if backup is not None:
        os.replace(backup, target)
    else:
        target.unlink(missing_ok=True)


# ----- indexing uploads as a job of the server ------------------------------------------------
@dataclass
class IndexJob:
    """One indexing run of uploaded files. It runs in a thread of the server, so it ends whether or
    not a page still waits for it; pages read its state (a reloaded page too)."""

    number: int
    name: str  # « rapport.pdf » or « 3 fichiers »
    started: float
    state: str = "running"  # running, done, failed
    progress: str = ""  # the last progress line, in French
    message: str = ""  # once ended: the outcome, in French
    kind: str = "info"  # the outcome's status colour: ok, info, error
    finished: float = 0.0

    @property
    def running(self) -> bool:
        return self.state == "running"


class IndexJobs:
    """The indexing jobs of one server, one at a time (one writer of the index). `after` runs in the
    job once the index holds the files and before the job counts as ended (the web app reopens its
    retriever there, so that an ended job's documents are searchable)."""

    def __init__(self, settings: Settings, after: Callable[[], None] | None = None):
        self.settings, self.after = settings, after
        self._lock = threading.Lock()
        self._job: IndexJob | None = None
        self._thread: threading.Thread | None = None

    def current(self) -> IndexJob | None:
        """A copy of the running job, else of the last one (None before the first)."""
        with self._lock:
            return None if self._job is None else IndexJob(**self._job.__dict__)

    def running(self) -> IndexJob | None:
        job = self.current()
        return job if job and job.running else None

    def busy_message(self) -> str | None:
        """Why a change of the corpus must wait, or None."""
        job = self.running()
        return (f"Une indexation est en cours (« {job.name} ») : attendez qu'elle se termine, puis réessayez."
                if job else None)

    def start(self, uploads: list[tuple[Path, str]], meta: dict | None = None) -> IndexJob:
        """Start indexing `uploads` ((file, name given by the user)); `meta` (title, publisher, date)
        only for a single file. A file refused by the checks that need no parsing is refused here,
        before any job starts (UploadError)."""
        uploads = [(Path(f), n) for f, n in uploads]
        if not uploads:
            raise UploadError("Choisissez d'abord un fichier à ajouter.")
        single = len(uploads) == 1 and not safe_name(uploads[0][1]).lower().endswith(ZIP_SUFFIX)
        if single:
            check_upload(uploads[0][0], uploads[0][1], self.settings)
        name = uploads[0][1] if len(uploads) == 1 else f"{len(uploads)} fichiers"
        with self._lock:
            if self._job is not None and self._job.running:
                raise UploadError(f"Une indexation est déjà en cours (« {self._job.name} ») : attendez qu'elle "
                                  "se termine, puis réessayez.")
            # The job's own copies: the page's upload files may be cleaned up once the page is gone.
            staging = Path(tempfile.mkdtemp(prefix="assistant-job-"))
            try:
                staged = []
                for i, (f, n) in enumerate(uploads):
                    shutil.copyfile(f, staging / f"{i}{Path(safe_name(n)).suffix}")
                    staged.append((staging / f"{i}{Path(safe_name(n)).suffix}", n))
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                raise UploadError(f"« {name} » : fichier reçu illisible ({exc.strerror or exc}).") from exc
            number = self._job.number + 1 if self._job else 1
            self._job = IndexJob(number, name, time.time(), progress=f"Vérification de « {name} »…")
            self._thread = threading.Thread(target=self._run, args=(self._job, staged, single, meta or {}, staging),
                                            name=f"index-job-{number}", daemon=True)
            self._thread.start()
            return IndexJob(**self._job.__dict__)

    def wait(self, timeout: float | None = None) -> IndexJob | None:
        """The job once ended (or still running after `timeout` seconds)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.current()

    def _set(self, job: IndexJob, **fields) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(job, k, v)

    def _run(self, job: IndexJob, staged: list[tuple[Path, str]], single: bool, meta: dict, staging: Path) -> None:
        counted = {"files": 0, "total": 0, "embedded": 0, "sentences": 0}

        def progress(event, **info):
            step = None
            if event == "start":
                counted["total"] = info.get("total", 0)
            elif event == "advance":
                counted["files"] += 1
            elif event == "embedded":
                counted["embedded"] += info.get("count", 0)
            elif event == "ocr":
                step = f"lecture des pages scannées ({info.get('done', 0)} sur {info.get('total', 0)})"
            elif event == "sentences":  # after the passages: the phrases the answer is chosen from
                counted["sentences"] += info.get("count", 0)
                step = f"{counted['sentences']} phrases sur {info.get('total', 0)} calculées"
            else:
                return
            if step is None:
                step = (f"{counted['embedded']} passages calculés" if counted["embedded"]
                        else "lecture et découpage du document")
            of = (f" (fichier {min(counted['files'] + 1, counted['total'])} sur {counted['total']})"
                  if counted["total"] > 1 and event != "sentences" else "")
            self._set(job, progress=f"Indexation de « {job.name} »{of} : {step}…")

        try:
            if single:
                result = add_document(self.settings, *staged[0], meta, progress)
                message, kind = result.message, "ok" if result.added else "info"
            else:
                result = add_documents(self.settings, staged, progress)
                message = result.message
                kind = "ok" if result.added or result.updated else ("error" if result.refused else "info")
            if self.after is not None:
                self._set(job, progress=f"Indexation de « {job.name} » : mise à jour de la recherche…")
                try:
                    self.after()
                except AssistantError as exc:  # indexed, but this server searches the old index
                    log.warning("index job %s: search not reloaded: %s", job.number, exc)
                    message += f" Attention : la recherche n'a pas pu être rechargée ({exc})."
                    kind = "error"
            log.info("index job %s ended: %s", job.number, message.replace("\n", " | "))
            self._set(job, state="done", message=message, kind=kind, finished=time.time())
        except AssistantError as exc:
            log.info("index job %s refused: %s", job.number, exc)
            self._set(job, state="failed", message=str(exc), kind="error", finished=time.time())
        except Exception as exc:  # never a traceback in the page
            log.exception("index job %s failed", job.number)
            self._set(job, state="failed", kind="error", finished=time.time(),
                      message=f"« {job.name} » : échec inattendu de l'indexation ({type(exc).__name__}).")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


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


def index_state(settings: Settings) -> tuple:
    """What the index holds now (generation, each document's hash and indexing time): equal to
    `records_state` of a retriever opened on it exactly when that retriever serves the same documents."""
    from .store import Store

    store = Store(settings)
    ready = store.ready_generation()
    return records_state(ready[0], store.documents(ready[0])) if ready else (None, ())


def records_state(generation, records: dict) -> tuple:
    return generation, tuple(sorted((d, r.doc_hash, r.ingested_at) for d, r in records.items()))


def list_documents(settings: Settings, records: dict | None = None) -> list[dict]:
    """Indexed documents with their passage counts, newest date first: the index registry's, or
    those of `records` (the registry a retriever was opened on, so that what is listed is searchable)."""
    manifest = read_manifest(settings.corpus_dir) if settings.corpus_dir.is_dir() else {}
    out = []
    for doc_id, rec in (_registry(settings) if records is None else records).items():
        entry = manifest.get(doc_id) or manifest.get(Path(doc_id).name) or {}
        out.append({
            "doc_id": doc_id, "title": rec.title, "publisher": rec.publisher, "date": rec.date,
            "kind": rec.kind, "chunks": len(rec.chunk_ids), "notes": str(entry.get("notes", "")),
            "indexed_at": datetime.fromtimestamp(rec.ingested_at).strftime("%Y-%m-%d %H:%M") if rec.ingested_at else "",
            "format": Path(doc_id).suffix.lower().lstrip("."),
            "folder": doc_id.rpartition("/")[0],  # the passages' `folder` field
        })
    out.sort(key=lambda d: (d["date"] if d["date"][:1].isdigit() else "0", d["title"]), reverse=True)
    return out


# ----- folders: the relative path as a filter ------------------------------------------------
# Each passage carries `doc_id` (its file's path relative to the corpus, e.g.
# "Partage-Solidarites/Autonomie/Tarifs/tarifs.xlsx") and `folder` (that path's folder, "" at the
# top). Chroma has no prefix match, so a folder with its subfolders is an `$in` on `folder`.
def _folder_key(folder: str) -> str:
    parts = [p for p in re.split(r"[\\/]+", (folder or "").strip()) if p not in ("", ".")]
    if ".." in parts:
        raise AssistantError(f"Dossier « {folder} » refusé : indiquez un chemin relatif au corpus, sans « .. ».")
    return "/".join(parts)


def list_folders(settings: Settings) -> list[dict]:
    """Every folder holding indexed documents (and its parents), with the documents and passages
    under it, subfolders included; "" is the whole corpus."""
    out: dict[str, dict] = {}
    for doc in list_documents(settings):
        parts = doc["folder"].split("/") if doc["folder"] else []
        for depth in range(len(parts) + 1):
            key = "/".join(parts[:depth])
            entry = out.setdefault(key, {"folder": key, "documents": 0, "chunks": 0})
            entry["documents"] += 1
            entry["chunks"] += doc["chunks"]
    return [out[k] for k in sorted(out)]


def documents_in_folder(settings: Settings, folder: str) -> list[dict]:
    """The indexed documents in `folder` (relative to the corpus) and its subfolders. A folder
    nothing is indexed in is a French error listing the known ones (case is forgiven)."""
    key = _folder_key(folder)
    docs = list_documents(settings)
    known = sorted({f["folder"] for f in list_folders(settings)} - {""})
    if key and key not in known:
        same = [k for k in known if k.casefold() == key.casefold()]
        if not same:
            shown = ", ".join(known[:15]) + (" …" if len(known) > 15 else "") if known else "aucun"
            raise AssistantError(f"Aucun document indexé dans le dossier « {folder} ». Dossiers du corpus : {shown}.")
        key = same[0]
    return [d for d in docs if not key or d["folder"] == key or d["folder"].startswith(key + "/")]


def folder_where(settings: Settings, folder: str) -> dict | None:
    """A Chroma `where` clause keeping the passages of `folder` and its subfolders (None: the whole
    corpus). For retrieve's filter: `collection.query(..., where=folder_where(settings, "X"))`."""
    docs = documents_in_folder(settings, folder)
    if not _folder_key(folder):
        return None
    return {"folder": {"$in": sorted({d["folder"] for d in docs})}}


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
