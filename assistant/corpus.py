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


# ----- editing the manifest (the admin's corrections) ---------------------------------------
MANIFEST_HEADER = ("# Metadata of the documents in corpus/. One [[document]] table per file.\n"
                   "# Fields: file (required), title, publisher, date (YYYY, YYYY-MM or YYYY-MM-DD),\n"
                   "# kind, original_file, notes.\n")
_TABLE_LINE = re.compile(r"^\s*\[")
_DOCUMENT_LINE = re.compile(r"^\s*\[\[\s*document\s*\]\]\s*(#.*)?$")


def toml_string(value: str) -> str:
    import json

    # A JSON string without control characters is a valid TOML basic string.
    return json.dumps(re.sub(r"[\x00-\x1f\x7f]", " ", str(value)), ensure_ascii=False)


def _blocks(lines: list[str]) -> list[tuple[int, int, dict]]:
    """(first line, end line, parsed table) of each [[document]] table, in file order."""
    out = []
    starts = [i for i, line in enumerate(lines) if _DOCUMENT_LINE.match(line)]
    for start in starts:
        end = next((j for j in range(start + 1, len(lines)) if _TABLE_LINE.match(lines[j])), len(lines))
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1  # blank lines and comments before the next table belong to that one
        try:
            table = tomllib.loads("".join(lines[start:end]))["document"][0]
        except (tomllib.TOMLDecodeError, KeyError, IndexError):
            table = {}
        out.append((start, end, table))
    return out


def _write_manifest(corpus_dir: Path, text: str, check) -> None:
    """Write the manifest atomically once the new text parses and `check(entries)` holds."""
    import os
    import tempfile

    try:
        entries = {str(e["file"]): e for e in tomllib.loads(text).get("document", []) if e.get("file")}
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"Le manifeste {corpus_dir / MANIFEST_NAME} n'a pas pu être modifié sans risque "
                          f"({exc}) : il est resté tel quel. Corrigez-le à la main.") from exc
    if not check(entries):
        raise CorpusError(f"Le manifeste {corpus_dir / MANIFEST_NAME} n'a pas pu être modifié sans risque "
                          "(valeur sur plusieurs lignes ?) : il est resté tel quel. Corrigez-le à la main.")
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".toml", dir=corpus_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, corpus_dir / MANIFEST_NAME)
    finally:
        Path(tmp).unlink(missing_ok=True)


def set_manifest_entry(corpus_dir: Path, file: str, fields: dict[str, str], copy_from: str | None = None) -> None:
    """Set fields of one document's manifest entry (an empty value removes the field), keeping
    the other entries, comments and order; a new entry is appended, with the other fields of
    `copy_from`'s entry if given. Atomic: the manifest is replaced only by a text that parses."""
    path = corpus_dir / MANIFEST_NAME
    before = read_manifest(corpus_dir)  # a broken manifest is refused here, untouched
    text = path.read_text(encoding="utf-8") if path.exists() else MANIFEST_HEADER
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    wanted = {k: " ".join(str(v or "").split()) for k, v in fields.items()}
    block = next(((s, e) for s, e, t in _blocks(lines) if str(t.get("file", "")) == file), None)
    if block is None and not any(wanted.values()) and not copy_from:
        return  # nothing to record: no empty entry
    if block is None:
        base = {k: v for k, v in (before.get(copy_from, {}) if copy_from else {}).items()
                if k != "file" and isinstance(v, str)}
        base.update(wanted)
        new = ["\n", "[[document]]\n", f"file = {toml_string(file)}\n"]
        new += [f"{k} = {toml_string(v)}\n" for k, v in base.items() if v]
        lines += new
    else:
        start, end = block
        body = lines[start:end]
        for key, value in wanted.items():
            at = next((i for i, line in enumerate(body) if re.match(rf"^\s*{re.escape(key)}\s*=", line)), None)
            if at is not None and value:
                body[at] = f"{key} = {toml_string(value)}\n"
            elif at is not None:
                del body[at]
            elif value:
                last = max(i for i, line in enumerate(body) if "=" in line or i == 0)
                body.insert(last + 1, f"{key} = {toml_string(value)}\n")
        lines[start:end] = body

    def check(entries: dict) -> bool:
        entry = entries.get(file, {})
        others_kept = all(entries.get(k) == v for k, v in before.items() if k != file)
        return others_kept and all(str(entry.get(k, "")) == v for k, v in wanted.items())

    _write_manifest(corpus_dir, "".join(lines), check)


def remove_manifest_entry(corpus_dir: Path, file: str) -> bool:
    """Remove one document's entry (with the comment lines inside it); True if there was one."""
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return False
    before = read_manifest(corpus_dir)
    if file not in before:
        return False
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for start, end, table in reversed(_blocks(lines)):
        if str(table.get("file", "")) == file:
            while start > 0 and not lines[start - 1].strip():
                start -= 1  # and the blank line that separated it
            del lines[start:end]
    _write_manifest(corpus_dir, "".join(lines),
                    lambda entries: file not in entries and all(entries.get(k) == v for k, v in before.items()
                                                                if k != file))
    return True
