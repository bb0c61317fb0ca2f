"""The corpus directory: which files are documents, and their metadata from the manifest."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
MANIFEST_NAME = "manifest.toml"
# Files that live in corpus/ but are not documents.
IGNORED_NAMES = {MANIFEST_NAME, "README.md", ".gitkeep"}


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


def document_info(path: Path, corpus_dir: Path, manifest: dict[str, dict]) -> DocumentInfo:
    rel = path.resolve().relative_to(corpus_dir.resolve()).as_posix()
    entry = manifest.get(rel) or manifest.get(path.name) or {}
    return DocumentInfo(
        doc_id=rel,
        path=path,
        title=str(entry.get("title") or _default_title(path)),
        publisher=str(entry.get("publisher") or "non précisé"),
        date=str(entry.get("date") or "non datée"),
        kind=str(entry.get("kind") or "document"),
        original_file=str(entry.get("original_file") or path.name),
        content_hash=file_hash(path),
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
        if p.name in IGNORED_NAMES or any(part.startswith(".") for part in rel):
            continue  # hidden files and folders (.git, editor swap files) are not documents
        (supported if p.suffix.lower() in SUPPORTED_SUFFIXES else unsupported).append(p)
    return supported, unsupported
