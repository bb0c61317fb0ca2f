"""Store: the chunks in Chroma, with a document registry that makes every update atomic.

Layout in Chroma (embedded `PersistentClient` in index/ by default, or a chroma server):
- `<name>-g<N>`: the chunks of generation N (embedding, cleaned text, metadata);
- `<name>-g<N>-docs`: one record per indexed document: its content hash and the ids of
  its chunks. A chunk is served only if its document's record lists it, so a document
  is either fully in the index or not at all, whatever moment ingestion stopped at.
A generation's collection metadata says which embedding model built it and whether it
is complete ("ready"). Readers use the newest ready generation; `--rebuild` fills a new
generation and switches only when it is complete; an interrupted build is resumed by
the next `ingest`.

An embedded client keeps its own in-memory copy of each vector index (HNSW) and catches up with
what another process stored only when it writes to that collection itself: `get` sees the other
process's passages, `query` does not. `Store.serving` reopens the client when the vector index
it serves lacks stored passages (one process resuming after another one was killed).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

from .backends import create, register
from .errors import AssistantError, IndexMismatchError, IndexMissingError
from .settings import Part, Settings, part_of

log = logging.getLogger(__name__)

READY, BUILDING = "ready", "building"
# What an index generation holds; bump when the indexed text changes (chunk.py: embed_text), so that an
# index built before is refused with a message asking for a rebuild instead of half-matching. (Adding the
# document's title, publisher and date to it was measured and not kept: evals/README.md.)
LAYOUT = 1


@dataclass
class DocRecord:
    doc_id: str
    doc_hash: str
    chunk_ids: list[str]
    title: str
    date: str
    publisher: str
    kind: str
    ingested_at: float


def _server_down(part: Part, exc: Exception) -> AssistantError:
    return AssistantError(
        f"Le serveur Chroma {part.chroma_host}:{part.chroma_port} ne répond pas "
        f"({type(exc).__name__}). Démarrez-le (chroma run --path index/chroma --port "
        f"{part.chroma_port}) ou repassez en mode local (ASSISTANT_CHROMA_MODE=embedded)."
    )


def _is_connection_error(exc: BaseException | None) -> bool:
    import httpx

    while exc is not None:
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


# Registered in this order: the order in which the settings list them (the first is the default).
@register("store", "embedded")
class EmbeddedChroma:
    """The Chroma database in index/chroma, opened by this process."""

    # Each process holds its own copy of the vector index (see the module docstring).
    shared = False

    def __init__(self, part: Part):
        self.part = part

    def connect(self):
        import chromadb

        path = self.part.index_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        try:
            return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        except Exception as exc:
            raise AssistantError(
                f"L'index {path} est illisible ou n'a pas été créé par cette application ({type(exc).__name__}). "
                "Supprimez le dossier index/ puis relancez « assistant ingest »."
            ) from exc

    def call(self, fn, *args, retries: int = 3, **kwargs):
        return fn(*args, **kwargs)


@register("store", "http")
class ChromaServer:
    """A chroma server, shared by every process that uses it."""

    # One process serves every client: what it stores, it serves.
    shared = True

    def __init__(self, part: Part):
        self.part = part

    def connect(self):
        import chromadb

        try:
            client = self.call(lambda: chromadb.HttpClient(
                host=self.part.chroma_host, port=self.part.chroma_port, settings=_chroma_settings()))
            self.call(client.heartbeat)
            return client
        except AssistantError:
            raise
        except Exception as exc:
            raise _server_down(self.part, exc) from exc

    def call(self, fn, *args, retries: int = 3, **kwargs):
        """A server that is briefly away gets a few retries, then a French error. The HTTP client
        reconnects by itself once the server is back."""
        for attempt in range(retries):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                last = exc
                log.warning("chroma server unreachable (attempt %d/%d): %s", attempt + 1, retries, exc)
                time.sleep(0.5 * (attempt + 1))
        raise _server_down(self.part, last) from last


def chroma(settings: Settings | Part):
    """The configured vector store backend (cheap: it connects on `connect`)."""
    return create("store", part_of(settings, "store"))


def server_call(settings: Settings | Part, fn, *args, retries: int = 3, **kwargs):
    """Call the vector store through its backend (a chroma server: a few retries, then a French error)."""
    return chroma(settings).call(fn, *args, retries=retries, **kwargs)


class IndexInconsistentError(AssistantError):
    """The registry lists passages that the vector index cannot return."""


def inconsistent(missing: int, total: int) -> IndexInconsistentError:
    which = f"{missing} des {total} passages enregistrés sont absents" if missing > 0 else \
        f"des passages enregistrés (sur {total}) sont absents"
    return IndexInconsistentError(
        f"L'index est incohérent : {which} de l'index vectoriel, la recherche ne pourrait pas les "
        "trouver. Reconstruisez-le : assistant ingest --rebuild"
    )


class Store:
    """Generations of one named index; thin over the chromadb client."""

    def __init__(self, settings: Settings | Part, client=None):
        self.part = part_of(settings, "store")
        self.backend = create("store", self.part)
        self.client = client or self.backend.connect()
        self.name = self.part.collection

    # ----- generations -------------------------------------------------------------
    def _generations(self) -> dict[int, object]:
        pattern = re.compile(re.escape(self.name) + r"-g(\d+)$")
        out = {}
        for col in self.client.list_collections():
            name = col if isinstance(col, str) else col.name
            m = pattern.match(name)
            if m:
                out[int(m.group(1))] = self.client.get_collection(name)
        return out

    def ready_generation(self):
        """(number, chunks collection) of the newest complete generation, or None."""
        gens = self._generations()
        ready = [n for n, c in gens.items() if (c.metadata or {}).get("state") == READY]
        return (max(ready), gens[max(ready)]) if ready else None

    def building_generation(self):
        gens = self._generations()
        ready = self.ready_generation()
        newest_ready = ready[0] if ready else -1
        building = [n for n, c in gens.items() if (c.metadata or {}).get("state") == BUILDING and n > newest_ready]
        return (max(building), gens[max(building)]) if building else None

    def new_generation(self, identity: str, dim: int):
        gens = self._generations()
        number = max(gens, default=0) + 1
        col = self.client.create_collection(
            f"{self.name}-g{number}",
            metadata={"state": BUILDING, "embedding": identity, "dim": dim, "layout": LAYOUT,
                      "created": time.time()},
            configuration={"hnsw": {"space": "cosine"}},
        )
        self.client.create_collection(f"{self.name}-g{number}-docs", metadata={"kind": "registry"})
        return number, col

    def mark_ready(self, number: int) -> None:
        col = self.client.get_collection(f"{self.name}-g{number}")
        meta = dict(col.metadata or {})
        meta["state"] = READY
        meta["completed"] = time.time()
        col.modify(metadata=meta)
        # Older generations are now superseded.
        for other, _ in self._generations().items():
            if other < number:
                self.drop_generation(other)

    def drop_generation(self, number: int) -> None:
        for suffix in ("", "-docs"):
            try:
                self.client.delete_collection(f"{self.name}-g{number}{suffix}")
            except Exception:  # already gone
                pass

    def registry(self, number: int):
        return self.client.get_or_create_collection(f"{self.name}-g{number}-docs", metadata={"kind": "registry"})

    # ----- checks ----------------------------------------------------------------
    @staticmethod
    def check_identity(collection, identity: str) -> None:
        layout = (collection.metadata or {}).get("layout", 1)
        if layout != LAYOUT:
            raise IndexMismatchError(
                f"L'index a été construit par une autre version du logiciel (format {layout}, attendu {LAYOUT} : "
                "le texte indexé n'est pas le même). Reconstruisez-le : assistant ingest --rebuild")
        built = (collection.metadata or {}).get("embedding")
        if built and built != identity:
            raise IndexMismatchError(
                f"L'index a été construit avec le modèle d'embeddings « {built} », mais les réglages "
                f"actuels utilisent « {identity} ». Reconstruisez l'index : assistant ingest --rebuild"
            )

    def open_ready(self, identity: str):
        found = self.ready_generation()
        if not found:
            building = self.building_generation()
            hint = " Une construction a été interrompue : relancez-la." if building else ""
            raise IndexMissingError(
                "Aucun index n'est prêt." + hint + " Construisez-le avec : assistant ingest"
            )
        self.check_identity(found[1], identity)
        return found

    # ----- document registry ----------------------------------------------------------
    def documents(self, number: int) -> dict[str, DocRecord]:
        reg = self.registry(number)
        got = reg.get(include=["metadatas"])
        out = {}
        for doc_id, meta in zip(got["ids"], got["metadatas"]):
            out[doc_id] = DocRecord(
                doc_id=doc_id,
                doc_hash=meta["doc_hash"],
                chunk_ids=json.loads(meta["chunk_ids"]),
                title=meta.get("title", ""),
                date=meta.get("date", ""),
                publisher=meta.get("publisher", ""),
                kind=meta.get("kind", ""),
                ingested_at=float(meta.get("ingested_at", 0)),
            )
        return out

    def commit_document(self, number: int, record: DocRecord) -> None:
        self.registry(number).upsert(
            ids=[record.doc_id],
            embeddings=[[0.0]],  # the registry is looked up by id only
            documents=[record.title],
            metadatas=[{
                "doc_hash": record.doc_hash,
                "chunk_ids": json.dumps(record.chunk_ids),
                "title": record.title,
                "date": record.date,
                "publisher": record.publisher,
                "kind": record.kind,
                "ingested_at": record.ingested_at,
            }],
        )

    def remove_document(self, number: int, doc_id: str) -> None:
        self.registry(number).delete(ids=[doc_id])

    # ----- vectors actually served ------------------------------------------------------
    def unserved(self, collection, ids: list[str] | None = None) -> int:
        """How many of `ids` (default: every stored passage) the vector search of this client cannot
        return; -1 when chroma refuses the read without saying which ("Error finding id"). Embedded,
        the vectors are read from the in-memory index that `query` searches; a chroma server is one
        process, so its stored ids are enough."""
        from chromadb.errors import InternalError

        include = [] if self.backend.shared else ["embeddings"]

        def read(**which) -> tuple[int, int]:  # (ids returned, of which with a vector)
            got = collection.get(include=include, **which)
            if not include:
                return len(got["ids"]), len(got["ids"])
            vectors = got["embeddings"]
            return len(got["ids"]), 0 if vectors is None else sum(1 for v in vectors if v is not None and len(v))

        missing, page = 0, 2000
        try:
            if ids is None:
                offset = 0
                while True:
                    returned, found = read(limit=page, offset=offset)
                    missing += returned - found
                    if returned < page:
                        return missing
                    offset += page
            for i in range(0, len(ids), page):
                wanted = ids[i : i + page]
                _, found = read(ids=wanted)
                missing += len(wanted) - found
            return missing
        except InternalError as exc:
            log.info("the vector index of %s lacks stored passages: %s", collection.name, exc)
            return -1

    def serving(self, collection, ids: list[str] | None = None):
        """(collection, how many of `ids` its vector search still cannot return). An embedded client
        whose in-memory vector index lacks passages that another process stored (see the module
        docstring) is reopened first."""
        missing = self.unserved(collection, ids)
        if missing == 0 or self.backend.shared:
            return collection, missing
        from chromadb.api.shared_system_client import SharedSystemClient

        log.info("vector index of %s is stale in this process: reopening the embedded client", collection.name)
        # All clients of one directory share one cached system per process: drop it so that the next
        # one reads the index afresh. Objects of the old system stay usable by whoever holds them.
        SharedSystemClient._identifier_to_system.pop(self.client._identifier, None)
        self.client = self.backend.connect()
        collection = self.client.get_collection(collection.name)
        return collection, self.unserved(collection, ids)

    def stored_ids(self, collection) -> set[str]:
        ids, offset = set(), 0
        while True:
            got = collection.get(include=[], limit=5000, offset=offset)
            ids.update(got["ids"])
            if len(got["ids"]) < 5000:
                return ids
            offset += 5000

    def get_chunks(self, collection, ids: list[str]) -> dict[str, dict]:
        """Metadata of each chunk, plus the text that was embedded under key "indexed"."""
        out = {}
        for i in range(0, len(ids), 2000):
            got = collection.get(ids=ids[i : i + 2000], include=["metadatas", "documents"])
            for cid, meta, text in zip(got["ids"], got["metadatas"], got["documents"]):
                out[cid] = {**meta, "indexed": text}
        return out
