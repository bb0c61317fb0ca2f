"""Answer log: each answer the web chat or the CLI gives, kept to be replayed (`assistant replay`).

It lives in the feedback store's SQLite file (table `answer_log`, schema migrations 2 and 3 of
feedback.py). Every text goes through `privacy.redact` first. An entry holds the question, the
standalone question, the search filters applied (documents, date range), the retrieved passages
(ids and the scores the decision reads), the model's raw text if any, the decision (outcome, reason
code, probability, sentences shown) and the timings.
Entries older than `answer_log_days` are deleted at each write; 0 turns the log off.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from .feedback import FeedbackStore
from .privacy import redact, redact_obj

log = logging.getLogger(__name__)


def passage_refs(results) -> list[dict]:
    """What replay needs to rebuild the passages exactly: ids, ranks and every score features read."""
    return [{"chunk_id": r.chunk_id, "rank": r.rank, "score": r.score, "dense": r.dense, "lexical": r.lexical,
             "also_in": list(r.also_in)} for r in results]


def shown(result: dict) -> list[list]:
    """The decision's sentences, as [passage number, sentence]: the answer's, or the one to check."""
    outcome = result.get("outcome") or ("refuse" if result.get("refused") else "answer")
    if outcome == "answer":
        return [[c["n"], s] for c in result.get("citations", []) for s in c.get("sentences", [])]
    return [[h["n"], h["sentence"]] for h in result.get("highlight", [])]


def decision_of(result: dict) -> dict:
    """The decision of an answer given as a dict (as_dict, an eval cache line), masked as the log keeps it."""
    return {"outcome": result.get("outcome", ""), "reason": result.get("reason", ""),
            "shown": [[n, redact(s)] for n, s in shown(result)]}


class AnswerLog:
    def __init__(self, store: FeedbackStore, days: int):
        self.store, self.days = store, days

    @classmethod
    def for_settings(cls, settings) -> "AnswerLog | None":
        """None when the log is off (answer_log_days = 0)."""
        return cls(FeedbackStore.for_settings(settings), settings.answer_log_days) if settings.answer_log_days else None

    def append(self, result, *, source: str, history=None, session: str = "", config: str = "",
               filters=None) -> int:
        """Store one AnswerResult (masked) and the retrieve.Filter it was searched with, if any; drop the
        entries past retention in the same transaction."""
        d = result.as_dict()
        now = datetime.now(timezone.utc)
        cutoff = (now - timedelta(days=self.days)).isoformat(timespec="seconds")
        decision = decision_of(d)
        row = (now.isoformat(timespec="seconds"), source, session, redact(result.question),
               redact(result.standalone_question), json.dumps(redact_obj(history or []), ensure_ascii=False),
               json.dumps(passage_refs(result.passages)), redact(result.raw or ""), redact(result.answer),
               decision["outcome"], decision["reason"], float(result.probability),
               json.dumps(decision["shown"], ensure_ascii=False), json.dumps(result.timings), result.backend, config,
               json.dumps(redact_obj(filters.as_dict() if filters else {}), ensure_ascii=False))

        def write(conn):
            conn.execute("DELETE FROM answer_log WHERE created_at < ?", (cutoff,))
            return conn.execute(
                "INSERT INTO answer_log (created_at, source, session, question, standalone_question, history, "
                "retrieved, raw, answer, outcome, reason, probability, shown, timings, backend, config, filters) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row).lastrowid

        return self.store._run(lambda conn: self.store.transaction(conn, write))

    def entries(self, limit: int | None = None) -> list[dict]:
        """The newest `limit` entries (all by default), oldest first, JSON columns decoded."""
        sql = "SELECT * FROM answer_log ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        rows = self.store._run(lambda conn: conn.execute(sql).fetchall())
        out = []
        for r in reversed(rows):
            entry = dict(r)
            for key in ("history", "retrieved", "shown", "timings", "filters"):
                entry[key] = json.loads(entry[key])
            out.append(entry)
        return out


def record(settings, result, *, source: str, history=None, session: str = "", filters=None) -> None:
    """Log one answer; a log that cannot be written never stops the answer (a warning, not an error)."""
    from .errors import AssistantError

    try:
        answer_log = AnswerLog.for_settings(settings)
        if answer_log is not None:
            try:
                answer_log.append(result, source=source, history=history, session=session,
                                  config=settings.key("index", "retrieval", "answer"), filters=filters)
            finally:
                answer_log.store.close()
    except AssistantError as exc:
        log.warning("journal des réponses non écrit : %s", exc)
