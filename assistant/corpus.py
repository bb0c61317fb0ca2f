"""The corpus directory: which files are documents, and their metadata from the manifest."""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".odt", ".odp", ".doc",
                      ".rtf", ".xlsx", ".ods", ".csv"}
ACCEPTED_FORMATS = ".txt, .md, .html, .pdf (y compris scanné), .docx, .odt, .doc, .rtf, .odp, .xlsx, .ods, .csv"
MANIFEST_NAME = "manifest.toml"
# Files that live in corpus/ but are not documents.
IGNORED_NAMES = {MANIFEST_NAME, "README.md", ".gitkeep"}
# What a shared drive holds besides documents: Office lock and temporary files, system files.
_JUNK = re.compile(r"^(~\$.*|~.*\.tmp|.*\.(tmp|temp|bak|swp|crdownload|part|lnk)|thumbs\.db|desktop\.ini)$",
                   re.IGNORECASE)


def junk_reason(rel_parts: tuple[str, ...]) -> str | None:
    """Why a file under the corpus is not a document (hidden, lock, temporary), or None."""
    name = rel_parts[-1]
    if any(part.startswith(".") for part in rel_parts[:-1]):
        return "dans un dossier caché"
    if name.startswith(".~lock") or name.startswith("~$"):
        return "fichier de verrouillage d'un document ouvert"
    if name.startswith("."):
        return "fichier caché"
    if _JUNK.match(name):
        return "fichier temporaire ou système"
    return None


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str  # path relative to the corpus directory, POSIX style
    path: Path
    title: str
    publisher: str
    date: str
    kind: str
    original_file: str
    content_hash: str
    # Where each of title, date, publisher came from: "manifeste", "propriétés", "titre" (the first
    # heading), or "" for the default (file name, « non datée »...).
    origins: tuple[tuple[str, str], ...] = ()

    def origin(self, field_name: str) -> str:
        return dict(self.origins).get(field_name, "")

    def source_fields(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "publisher": self.publisher,
            "date": self.date,
            "kind": self.kind,
            "path": self.doc_id,
        }


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(corpus_dir: Path) -> dict[str, dict]:
    """Manifest entries keyed by file name; a broken manifest is a clear error."""
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(
            f"Le manifeste {path} est illisible ({exc}). Corrigez-le ou supprimez-le : "
            "les documents seront alors indexés avec des métadonnées par défaut."
        ) from exc
    entries = {}
    for entry in data.get("document", []):
        if isinstance(entry, dict) and entry.get("file"):
            entries[str(entry["file"])] = entry
    return entries


def _default_title(path: Path) -> str:
    stem = path.stem.replace("_", " ").replace("-", " ").strip()
    return stem[:1].upper() + stem[1:] if stem else path.name


def document_info(path: Path, corpus_dir: Path, manifest: dict[str, dict],
                  content_hash: str | None = None, heading: str = "") -> DocumentInfo:
    """A file's metadata: the manifest entry first, then the file's own properties (PDF info,
    Office/OpenDocument core properties), then its first heading (title only), then defaults."""
    rel = path.resolve().relative_to(corpus_dir.resolve()).as_posix()
    entry = manifest.get(rel) or manifest.get(path.name) or {}
    wanted = ("title", "date", "publisher")
    props = {}
    if not all(str(entry.get(k) or "").strip() for k in wanted):
        from .office import document_properties

        props = document_properties(path)
    values, origins = {}, []
    for key in wanted:
        for origin, value in (("manifeste", entry.get(key)), ("propriétés", props.get(key)),
                              ("titre", heading if key == "title" else "")):
            if str(value or "").strip():
                values[key] = str(value).strip()
                origins.append((key, origin))
                break
    return DocumentInfo(
        doc_id=rel,
        path=path,
        title=values.get("title") or _default_title(path),
        publisher=values.get("publisher") or "non précisé",
        date=values.get("date") or "non datée",
        kind=str(entry.get("kind") or "document"),
        original_file=str(entry.get("original_file") or path.name),
        content_hash=content_hash or file_hash(path),
        origins=tuple(origins),
    )


def list_files(corpus_dir: Path, paths: list[Path] | None = None) -> tuple[list[Path], list[Path]]:
    """(supported files, unsupported files) under the corpus directory, sorted."""
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"Le dossier du corpus {corpus_dir} n'existe pas. Créez-le et déposez-y des documents "
            "(.txt, .md, .html, .pdf, .docx), ou indiquez-en un autre avec ASSISTANT_CORPUS_DIR."
        )
    roots = paths or [corpus_dir]
    found: list[Path] = []
    for root in roots:
        root = root.resolve()
        if root.is_dir():
            found.extend(p for p in root.rglob("*") if p.is_file())
        elif root.is_file():
            found.append(root)
        else:
            raise CorpusError(f"{root} : fichier ou dossier introuvable.")
    supported, unsupported = [], []
    base = corpus_dir.resolve()
    for p in sorted(set(found)):
        rel = p.relative_to(base).parts if base in p.parents else (p.name,)
        if p.name in IGNORED_NAMES or junk_reason(rel):
            continue  # hidden, lock and temporary files are not documents (see ignored_files)
        (supported if p.suffix.lower() in SUPPORTED_SUFFIXES else unsupported).append(p)
    return supported, unsupported


def ignored_files(corpus_dir: Path) -> list[tuple[Path, str]]:
    """Files of the corpus left out on purpose, with the reason; a hidden folder counts once."""
    base = corpus_dir.resolve()
    out: list[tuple[Path, str]] = []
    hidden_dirs: set[Path] = set()
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base).parts
        if p.is_dir():
            if p.name.startswith(".") and not any(d in p.parents for d in hidden_dirs):
                hidden_dirs.add(p)
                out.append((p, "dossier caché"))
            continue
        if p.name in IGNORED_NAMES or any(d in p.parents for d in hidden_dirs):
            continue
        reason = junk_reason(rel)
        if reason:
            out.append((p, reason))
    return out


def import_tree(source: Path, corpus_dir: Path) -> tuple[Path, list[tuple[Path, str]]]:
    """Copy a folder (a shared drive) into the corpus under its own name, keeping its tree.
    Hidden, lock and temporary files and unsupported formats are left behind, and returned
    with the reason; unchanged files are not copied again."""
    source = source.resolve()
    target = corpus_dir.resolve() / source.name
    left: list[tuple[Path, str]] = []
    hidden_dirs: list[Path] = []
    for p in sorted(source.rglob("*")):
        rel = p.relative_to(source).parts
        if any(d in p.parents for d in hidden_dirs):
            continue
        if p.is_dir():
            if p.name.startswith("."):
                hidden_dirs.append(p)
                left.append((p, "dossier caché"))
            continue
        reason = junk_reason(rel)
        if reason is None and p.suffix.lower() not in SUPPORTED_SUFFIXES:
            reason = f"format {p.suffix or '(sans extension)'} non pris en charge"
        if reason:
            left.append((p, reason))
            continue
        dest = target.joinpath(*rel)
        st = p.stat()
        if dest.exists():
            dt = dest.stat()
            if (dt.st_size, int(dt.st_mtime)) == (st.st_size, int(st.st_mtime)):
                continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest)
    target.mkdir(parents=True, exist_ok=True)
    return target, left


def split_duplicates(files: list[Path], hashes: dict[Path, str], corpus_dir: Path,
                     prefer: set[str] = frozenset()) -> tuple[list[Path], dict[Path, list[Path]]]:
    """Files with distinct contents, and for each kept file its identical copies. The kept
    copy is one already indexed (doc_id in `prefer`) if any, else the first by path."""
    base = corpus_dir.resolve()
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(hashes.get(f) or f"unhashed:{f}", []).append(f)
    kept, copies = [], {}
    for same in groups.values():
        same.sort(key=lambda f: (f.resolve().relative_to(base).as_posix() not in prefer, f.as_posix()))
        kept.append(same[0])
        if len(same) > 1:
            copies[same[0]] = same[1:]
    return sorted(kept), copies
