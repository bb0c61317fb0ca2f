"""Feedback: thumbs up/down and comments on answers, stored in SQLite (WAL), exportable
as evaluation items.

Every text written goes through `privacy.redact` first. A locked database (another
process writing, a backup holding a lock) is retried until `lock_timeout` seconds, then
the caller gets a FeedbackError with a French message; rows already stored are never
touched by a failed write (each write is one transaction).

    python -m assistant.feedback export avis.jsonl   # the evaluation dataset's format
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from .errors import AssistantError
from .lexical import same_spacing
from .privacy import redact, redact_obj

DB_NAME = "feedback.sqlite3"
# Numbered schema migrations, applied in order once each (PRAGMA user_version holds the last applied).
# Append a new one for any change; never edit one that has shipped. The first is the table as it was
# before numbering, hence IF NOT EXISTS: a store from then is taken as at version 1.
MIGRATIONS: list[tuple[int, str]] = [(1, """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL DEFAULT '',
    history TEXT NOT NULL DEFAULT '[]',
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL DEFAULT 0,
    citations TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    model TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT ''
)
"""), (2, """
CREATE TABLE answer_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL,
    session TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    retrieved TEXT NOT NULL DEFAULT '[]',
    raw TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    probability REAL NOT NULL DEFAULT 0,
    shown TEXT NOT NULL DEFAULT '[]',
    timings TEXT NOT NULL DEFAULT '{}',
    backend TEXT NOT NULL DEFAULT '',
    config TEXT NOT NULL DEFAULT ''
);
CREATE INDEX answer_log_created ON answer_log (created_at)
"""), (3, """
ALTER TABLE answer_log ADD COLUMN filters TEXT NOT NULL DEFAULT '{}'
""")]
SCHEMA_VERSION = MIGRATIONS[-1][0]
MAX_COMMENT = 2000


class FeedbackError(AssistantError):
    """The feedback could not be stored (database locked or unwritable)."""


@dataclass
class Feedback:
    id: int
    created_at: str
    updated_at: str
    rating: int
    comment: str
    question: str
    standalone_question: str
    history: list
    answer: str
    refused: bool
    citations: list
    settings: dict
    model: str
    session: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _is_lock(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class FeedbackStore:
    """One SQLite file under the data directory; safe across threads and processes."""

    def __init__(self, path: Path, lock_timeout: float = 5.0):
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FeedbackError(
                f"Le dossier des avis {self.path.parent} ne peut pas être créé ({exc.strerror}). "
                "Vérifiez ASSISTANT_DATA_DIR.") from exc
        self._run(self._init)

    @classmethod
    def for_settings(cls, settings, lock_timeout: float = 5.0) -> "FeedbackStore":
        return cls(Path(settings.data_dir) / DB_NAME, lock_timeout)

    # ----- connection and retries ------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # SQLite's own busy wait is short; the loop in _run bounds the total wait.
            conn = sqlite3.connect(self.path, timeout=min(1.0, self.lock_timeout), isolation_level=None)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _init(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError("database is locked (journal mode not switched)")
        conn.execute("PRAGMA synchronous=FULL")  # an acknowledged avis survives a power cut
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Apply the migrations this file has not had, each in one transaction with its number."""
        def apply(conn, number, script):
            if self.version(conn) < number:  # another process may have applied it meanwhile
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(number)}")

        for number, script in MIGRATIONS:
            if self.version(conn) < number:
                self.transaction(conn, lambda c: apply(c, number, script))
        if self.version(conn) > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schéma n° {self.version(conn)} écrit par une version plus récente "
                                        f"de l'assistant (celle-ci connaît jusqu'au n° {SCHEMA_VERSION})")

    @staticmethod
    def version(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _run(self, work):
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            conn = self._connect()
            try:
                return work(conn)
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:
                    conn.rollback()
                if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                    raise FeedbackError(
                        f"Plus de place pour la base des avis {self.path} (disque plein) : votre avis n'a pas été "
                        "enregistré ; les avis déjà enregistrés sont conservés.") from exc
                if not _is_lock(exc):
                    raise FeedbackError(f"La base des avis {self.path} est inutilisable ({exc}).") from exc
                if time.monotonic() + delay > deadline:
                    raise FeedbackError(
                        "La base des avis est occupée pour le moment : votre avis n'a pas été enregistré. "
                        "Réessayez dans quelques instants (les avis déjà enregistrés sont conservés).") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except sqlite3.DatabaseError as exc:
                raise FeedbackError(f"La base des avis {self.path} est illisible ({exc}).") from exc

    @staticmethod
    def transaction(conn: sqlite3.Connection, work):
        """`work(conn)` in one write transaction: all of it is stored, or none of it."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    @classmethod
    def _write(cls, conn: sqlite3.Connection, sql: str, params) -> int:
        cur = cls.transaction(conn, lambda c: c.execute(sql, params))
        return cur.lastrowid if cur.lastrowid else cur.rowcount

    # ----- API --------------------------------------------------------------------------
    def add(self, *, rating: int, question: str, answer: str, citations: list | None = None,
            history: list | None = None, refused: bool = False, standalone_question: str = "",
            settings: dict | None = None, model: str = "", comment: str = "", session: str = "") -> int:
        """Store one avis; returns its id. Every text is redacted first."""
        if rating not in (1, -1):
            raise FeedbackError("L'avis doit être 1 (utile) ou -1 (pas utile).")
        now = _now()
        row = (now, now, rating, redact(comment[:MAX_COMMENT]), redact(question), redact(standalone_question),
               json.dumps(redact_obj(history or []), ensure_ascii=False), redact(answer), int(bool(refused)),
               json.dumps(redact_obj(citations or []), ensure_ascii=False),
               json.dumps(redact_obj(settings or {}), ensure_ascii=False), model, session)
        return self._run(lambda conn: self._write(conn, (
            "INSERT INTO feedback (created_at, updated_at, rating, comment, question, standalone_question, history, "
            "answer, refused, citations, settings, model, session) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"), row))

    def update(self, feedback_id: int, *, rating: int | None = None, comment: str | None = None) -> None:
        """Change the rating or add the comment of a stored avis."""
        sets, params = ["updated_at = ?"], [_now()]
        if rating is not None:
            if rating not in (1, -1):
                raise FeedbackError("L'avis doit être 1 (utile) ou -1 (pas utile).")
            sets.append("rating = ?")
            params.append(rating)
        if comment is not None:
            sets.append("comment = ?")
            params.append(redact(comment[:MAX_COMMENT]))
        params.append(int(feedback_id))
        changed = self._run(lambda conn: self._write(conn, f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?", params))
        if not changed:
            raise FeedbackError(f"Avis n° {feedback_id} introuvable.")

    def list(self, limit: int | None = None) -> list[Feedback]:
        sql = "SELECT * FROM feedback ORDER BY id" + (f" LIMIT {int(limit)}" if limit else "")
        rows = self._run(lambda conn: conn.execute(sql).fetchall())
        return [Feedback(
            id=r["id"], created_at=r["created_at"], updated_at=r["updated_at"], rating=r["rating"],
            comment=r["comment"], question=r["question"], standalone_question=r["standalone_question"],
            history=json.loads(r["history"]), answer=r["answer"], refused=bool(r["refused"]),
            citations=json.loads(r["citations"]), settings=json.loads(r["settings"]), model=r["model"],
            session=r["session"]) for r in rows]

    def count(self) -> int:
        return self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def export_jsonl(self, out: IO[str], corpus_dir: Path | None = None) -> int:
        """Write every avis as an evaluation item (evals/datasets/README.md); returns the count."""
        n = 0
        for fb in self.list():
            out.write(json.dumps(to_eval_item(fb, corpus_dir), ensure_ascii=False) + "\n")
            n += 1
        return n

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# ----- evaluation items ------------------------------------------------------------------
# A number and, when there is one, its unit: "135 millions", "26 %", "500 €".
_NUMBER = re.compile(r"(?:\d{1,3}(?:[  .]\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?)(?:[  ]?(?:%|€|millions?|milliards?|euros?)\b|[  ]?[%€])?")


def _file_text(corpus_dir: Path | None, doc_id: str) -> str:
    if corpus_dir is None or not doc_id:
        return ""
    path = (Path(corpus_dir) / doc_id).resolve()
    if Path(corpus_dir).resolve() not in path.parents or path.suffix.lower() not in (".txt", ".md", ".markdown"):
        return ""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _quote(passage: str, supported: list[str], file_text: str) -> str:
    """The passage sentence (40-250 characters) that best matches the supported answer
    sentences and is found verbatim (whitespace aside) in the source file."""
    from .verify import content_terms, split_sentences

    wanted = set()
    for s in supported:
        wanted |= content_terms(s)
    norm_file = same_spacing(file_text)
    best, best_score = "", 0
    for sentence in split_sentences(passage):
        sentence = sentence.strip()
        if not 40 <= len(sentence) <= 250 or (norm_file and same_spacing(sentence) not in norm_file):
            continue
        score = len(wanted & content_terms(sentence))
        if score > best_score:
            best, best_score = sentence, score
    return best


def to_eval_item(fb: Feedback, corpus_dir: Path | None = None) -> dict:
    """One avis as a dataset item. A useful answer becomes a candidate reference; a
    refusal judged useful becomes an unanswerable item; everything else is to review."""
    answered_ok = fb.rating == 1 and not fb.refused
    evidence, key_facts = [], []
    if answered_ok:
        for c in fb.citations:  # one quote per sentence shown: an answer may hold several from one passage
            source = c.get("source", {})
            file_text = _file_text(corpus_dir, source.get("doc_id", ""))
            for sentence in c.get("sentences", []):
                quote = _quote(c.get("text", ""), [sentence], file_text)
                if quote and len(evidence) < 3 and all(e["quote"] != quote for e in evidence):
                    evidence.append({"file": source.get("doc_id", ""), "quote": quote})
        quotes = " ".join(same_spacing(e["quote"]).lower() for e in evidence)
        for m in _NUMBER.finditer(re.sub(r"\[\d+\]", " ", fb.answer)):
            fact = m.group(0).strip(" .,")
            if fact and fact.lower() in quotes and fact not in key_facts:
                key_facts.append(fact)
    if fb.history:
        category = "followup"
    elif fb.refused and fb.rating == 1:
        category = "unanswerable"
    else:
        category = "factual"
    return {
        "id": f"fb-{fb.id:04d}",
        "question": fb.question,
        "history": fb.history,
        "category": category,
        # A refusal judged wrong means the staff member expected the documents to answer.
        "answerable": not (fb.refused and fb.rating == 1),
        "reference_answer": fb.answer if answered_ok or (fb.refused and fb.rating == 1) else "",
        "evidence": evidence,
        "key_facts": key_facts,
        "feedback": {"rating": fb.rating, "comment": fb.comment, "answer": fb.answer, "refused": fb.refused,
                     "model": fb.model, "created_at": fb.created_at,
                     "to_review": not answered_ok},
    }


def main(argv: list[str] | None = None) -> int:
    from . import offline
    from .settings import get_settings

    offline.apply()
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2) or argv[0] != "export":
        print("Usage : python -m assistant.feedback export [FICHIER.jsonl]  (sortie standard sans fichier)",
              file=sys.stderr)
        return 2
    settings = get_settings()
    store = FeedbackStore.for_settings(settings)
    if len(argv) == 2:
        with open(argv[1], "w", encoding="utf-8") as fh:
            n = store.export_jsonl(fh, settings.corpus_dir)
        print(f"{n} avis exportés dans {argv[1]}.", file=sys.stderr)
    else:
        store.export_jsonl(sys.stdout, settings.corpus_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
