"""Ingest: corpus files -> load -> clean -> chunk -> embed -> store, idempotently.

Unchanged files (same content hash) are skipped without loading them; a changed file has
its chunks replaced (chunks whose text did not change keep their embedding); a file gone
from the corpus has its chunks removed; one bad file is reported and the others go on.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .chunk import chunk_document
from .clean import clean_document
from .corpus import (ACCEPTED_FORMATS, document_info, file_hash, ignored_files, import_tree, list_files,
                     read_manifest, split_duplicates)
from .embed import get_embeddings
from .errors import CorpusError, DocumentError
from .load import LoadOptions, load_document
from .sentence_index import SentenceIndex
from .settings import Settings
from .store import BUILDING, LAYOUT, DocRecord, Store, inconsistent

log = logging.getLogger(__name__)

Progress = Callable[..., None]
ADD_BATCH = 64


@dataclass
class IngestReport:
    documents: int = 0  # documents in the index afterwards
    indexed: int = 0  # documents (re)indexed by this run
    skipped: int = 0  # unchanged documents
    removed: int = 0  # documents deleted from the index
    chunks: int = 0  # chunks in the index afterwards
    embedded: int = 0  # chunks embedded by this run
    reused: int = 0  # chunks whose vector was copied from an identical stored passage
    sentences_embedded: int = 0  # passage sentences embedded by this run (for the answer scorer)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # indexed but worth a look (low OCR confidence)
    ignored: list[str] = field(default_factory=list)  # lock, temporary and hidden files; duplicates
    pages: int = 0  # PDF pages and slides read by this run
    ocr_pages: int = 0  # of which read by OCR
    seconds: float = 0.0
    generation: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _noop(*_args, **_kwargs) -> None:
    pass


PAUSE_ENV = "ASSISTANT_TEST_PAUSE_AT"


def _pausing(progress: Progress) -> Progress:
    """Test-only: with ASSISTANT_TEST_PAUSE_AT="<event>:<file name>" (event "embedded": a batch of
    the file's passages was embedded and stored; "stored": all of them are stored, its registry
    record is not yet written; "advance": it is written), ingestion prints "pause <event> <file
    name>" on stdout at the first such event and waits there, so a test kills the process at that
    exact point whatever the machine's speed."""
    spec = os.environ.get(PAUSE_ENV, "")
    if not spec:
        return progress
    event, _, name = spec.partition(":")

    def wrapped(ev, **info):
        progress(ev, **info)
        if ev == event and info.get("name") == name:
            print(f"pause {event} {name}", flush=True)
            while True:
                time.sleep(3600)

    return wrapped


def _import_outside(paths: list[Path], corpus_dir: Path, report: IngestReport) -> list[Path]:
    """Files named outside corpus/ are copied in, so the corpus stays the one source."""
    out = []
    corpus = corpus_dir.resolve()
    for p in paths:
        p = p.resolve()
        if p.is_file() and corpus not in p.parents:
            target = corpus / p.name
            if not target.exists():
                shutil.copy2(p, target)
            p = target
        elif p.is_dir() and p != corpus and corpus not in p.parents:
            p, left = import_tree(p, corpus)  # a shared drive: its tree lands under corpus/<its name>/
            for path, reason in left:
                (report.errors if reason.startswith("format") else report.ignored).append(
                    f"{path} : {reason}" + (f" (formats acceptés : {ACCEPTED_FORMATS})" if reason.startswith("format") else "")
                    + ", non importé.")
        out.append(p)
    return out


def ingest(settings: Settings, paths: list[Path] | None = None, rebuild: bool = False,
           progress: Progress = _noop) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    progress = _pausing(progress)
    corpus_dir = settings.corpus_dir
    if paths:
        paths = _import_outside(paths, corpus_dir, report)
    files, unsupported = list_files(corpus_dir)  # always the whole corpus: deletions need it
    selected = set(files) if not paths else {f for f in files if any(f == p or p in f.parents for p in paths)}
    for bad in unsupported:
        if not paths or any(bad == p or p in bad.parents for p in paths):
            report.errors.append(
                f"{bad} : format {bad.suffix or '(sans extension)'} non pris en charge "
                f"(formats acceptés : {ACCEPTED_FORMATS}). Fichier ignoré."
            )
    for junk, reason in ignored_files(corpus_dir):
        if not paths or any(junk == p or p in junk.parents for p in paths):
            report.ignored.append(f"{junk} : {reason}, ignoré.")
    if not files:
        raise CorpusError(
            f"Le corpus {corpus_dir} ne contient aucun document indexable. Déposez-y des fichiers "
            f"{ACCEPTED_FORMATS} puis relancez « assistant ingest »."
        )
    manifest = read_manifest(corpus_dir)
    embeddings = get_embeddings(settings)
    store = Store(settings)

    # Which generation to write into.
    building = store.building_generation()
    ready = store.ready_generation()
    if rebuild:
        if building:
            store.drop_generation(building[0])
        number, collection = store.new_generation(embeddings.identity, embeddings.dim)
    elif building and (building[1].metadata or {}).get("embedding") == embeddings.identity and (
            building[1].metadata or {}).get("layout", 1) == LAYOUT:
        number, collection = building  # resume an interrupted build
    elif ready:
        store.check_identity(ready[1], embeddings.identity)
        number, collection = ready
    else:
        number, collection = store.new_generation(embeddings.identity, embeddings.dim)
    is_building = (collection.metadata or {}).get("state") == BUILDING
    if is_building:
        selected = set(files)  # a generation only becomes ready once it holds the whole corpus
    report.generation = number
    # A client of this process that read the collection before another process (a killed ingest)
    # stored passages in it does not serve their vectors: reopen it before anything is reused.
    collection, _ = store.serving(collection)

    from langchain_chroma import Chroma

    vectors = Chroma(client=store.client, collection_name=collection.name, embedding_function=embeddings)
    registry = store.documents(number)
    # The same content under several paths is indexed once; the report names every copy.
    hashes = {}
    for f in files:
        try:
            hashes[f] = file_hash(f)
        except OSError:
            pass  # document_info reports it below
    files, copies = split_duplicates(files, hashes, corpus_dir, prefer=set(registry))
    for kept, others in copies.items():
        if any(f in selected for f in [kept, *others]):
            names = ", ".join(document_id(o, corpus_dir) for o in others)
            report.ignored.append(f"{names} : même contenu que {document_id(kept, corpus_dir)}, indexé une seule "
                                  f"fois (sous {document_id(kept, corpus_dir)}).")
    todo = [f for f in files if f in selected]
    progress("start", total=len(todo))

    for path in todo:
        try:
            info = document_info(path, corpus_dir, manifest, content_hash=hashes.get(path),
                                 heading=_cached_heading(settings, hashes.get(path)))
        except OSError as exc:
            report.errors.append(f"{path} : fichier illisible ({exc}).")
            progress("advance", name=path.name)
            continue
        record = registry.get(info.doc_id)
        same_meta = record and (record.title, record.date, record.publisher, record.kind) == (
            info.title, info.date, info.publisher, info.kind)
        if record and record.doc_hash == info.content_hash and same_meta:
            report.skipped += 1
            progress("advance", name=path.name, skipped=True)
            continue
        try:
            doc = load_document(info, LoadOptions.from_settings(settings, progress))
            _cache_heading(settings, info.content_hash, doc.heading)
            info = doc.info  # its title may be the first heading
            report.warnings.extend(doc.warnings)
            report.pages += doc.pages
            report.ocr_pages += doc.ocr_pages
            chunks = chunk_document(doc, clean_document(doc), settings.chunk_size, settings.chunk_min)
            if not chunks:
                raise DocumentError(path, "aucun passage exploitable après nettoyage.")
        except DocumentError as exc:
            report.errors.append(str(exc) + (" L'ancienne version reste indexée." if record else ""))
            progress("advance", name=path.name, error=True)
            continue
        ids = [c.chunk_id for c in chunks]
        present = set(collection.get(ids=ids, include=[])["ids"])
        fresh = [c for c in chunks if c.chunk_id not in present]
        known = _known_vectors(collection, fresh)
        reused = [c for c in fresh if c.metadata(doc)["text_sha"] in known]
        if reused:  # a passage already embedded elsewhere (copied boilerplate, renamed file)
            for i in range(0, len(reused), ADD_BATCH):
                batch = reused[i : i + ADD_BATCH]
                metas = [c.metadata(doc) for c in batch]
                collection.add(ids=[c.chunk_id for c in batch], documents=[c.embed_text for c in batch],
                               metadatas=metas, embeddings=[known[m["text_sha"]] for m in metas])
            report.reused += len(reused)
        fresh = [c for c in fresh if c.metadata(doc)["text_sha"] not in known]
        step = max(1, settings.embeddings_batch_size)  # stored as embedded: a kill loses one batch at most
        for i in range(0, len(fresh), step):
            batch = fresh[i : i + step]
            vectors.add_texts(
                texts=[c.embed_text for c in batch],
                metadatas=[c.metadata(doc) for c in batch],
                ids=[c.chunk_id for c in batch],
            )
            progress("embedded", count=len(batch), name=path.name)
        kept = [c for c in chunks if c.chunk_id in present]
        if kept:  # same text, new place or new document metadata: no re-embedding
            collection.update(ids=[c.chunk_id for c in kept], metadatas=[c.metadata(doc) for c in kept])
        progress("stored", name=path.name)
        # The registry record is the commit point of this document.
        store.commit_document(number, DocRecord(
            doc_id=info.doc_id, doc_hash=info.content_hash, chunk_ids=ids, title=info.title,
            date=info.date, publisher=info.publisher, kind=info.kind, ingested_at=time.time()))
        if record:
            stale = sorted(set(record.chunk_ids) - set(ids))
            if stale:
                collection.delete(ids=stale)
        registry[info.doc_id] = DocRecord(info.doc_id, info.content_hash, ids, info.title, info.date,
                                          info.publisher, info.kind, time.time())
        report.indexed += 1
        report.embedded += len(fresh)
        progress("advance", name=path.name)

    # Documents whose file is gone from the corpus.
    on_disk = {document_id(f, corpus_dir) for f in files}
    for doc_id in sorted(set(registry) - on_disk):
        store.remove_document(number, doc_id)
        collection.delete(ids=registry[doc_id].chunk_ids)
        del registry[doc_id]
        report.removed += 1

    # Chunks no document owns (left by an interrupted run).
    owned = {cid for rec in registry.values() for cid in rec.chunk_ids}
    stored = store.stored_ids(collection)
    orphans = sorted(stored - owned)
    if orphans:
        collection.delete(ids=orphans)
    # Never serve a registry that lists passages the vector search cannot return.
    missing = len(owned - stored) or store.unserved(collection, sorted(owned))
    if missing:
        raise inconsistent(missing, len(owned))

    # Sentence vectors for the answer scorer, before the generation is served.
    if owned:
        chunks_meta = store.get_chunks(collection, sorted(owned))
        report.sentences_embedded = SentenceIndex.create(store, embeddings).sync(
            (m["display"] for m in chunks_meta.values()), progress)

    if is_building:
        if not registry:
            raise CorpusError(
                "Aucun document n'a pu être indexé : " + " ; ".join(report.errors[:5])
            )
        store.mark_ready(number)

    report.documents = len(registry)
    report.chunks = len(owned)
    report.seconds = round(time.perf_counter() - started, 2)
    progress("done")
    return report


def _known_vectors(collection, chunks) -> dict[str, list[float]]:
    """Stored vectors of passages with the same embedded text, by text hash."""
    from .chunk import text_sha

    wanted = sorted({text_sha(c.embed_text) for c in chunks})
    found: dict[str, list[float]] = {}
    for i in range(0, len(wanted), 200):
        got = collection.get(where={"text_sha": {"$in": wanted[i : i + 200]}}, include=["embeddings", "metadatas"])
        for meta, vector in zip(got["metadatas"], got["embeddings"]):
            found.setdefault(meta["text_sha"], list(vector))
    return found


# The first heading is known only once a file is loaded; kept by content hash, so an unchanged
# file without a manifest title compares equal to its record and is not loaded again.
def _heading_file(settings: Settings, digest: str) -> Path:
    return Path(settings.index_dir) / "headings" / f"{digest}.txt"


def _cached_heading(settings: Settings, digest: str | None) -> str:
    if not digest:
        return ""
    try:
        return _heading_file(settings, digest).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _cache_heading(settings: Settings, digest: str, heading: str) -> None:
    path = _heading_file(settings, digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(heading, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # only costs a reload next time
        log.warning("heading cache not written (%s)", exc)


def document_id(path: Path, corpus_dir: Path) -> str:
    return path.resolve().relative_to(corpus_dir.resolve()).as_posix()
