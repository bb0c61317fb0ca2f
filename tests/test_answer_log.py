"""The answer log and `assistant replay`: real SQLite files, real index, real decision code."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from assistant import replay as rp
from assistant.answer import AnswerResult, Citation, answer
from assistant.answer_log import AnswerLog, decision_of, passage_refs, record
from assistant.feedback import DB_NAME, SCHEMA_VERSION, FeedbackError, FeedbackStore
from assistant.outcome import Outcome, Reason
from assistant.retrieve import Filter, Result

from .conftest import ARTICLE

# The avis table exactly as stores created before numbered migrations hold it.
OLD_FEEDBACK = """CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), comment TEXT NOT NULL DEFAULT '', question TEXT NOT NULL,
    standalone_question TEXT NOT NULL DEFAULT '', history TEXT NOT NULL DEFAULT '[]', answer TEXT NOT NULL,
    refused INTEGER NOT NULL DEFAULT 0, citations TEXT NOT NULL DEFAULT '[]', settings TEXT NOT NULL DEFAULT '{}',
    model TEXT NOT NULL DEFAULT '', session TEXT NOT NULL DEFAULT '')"""


def _result(question: str, outcome=Outcome.ANSWER) -> AnswerResult:
    meta = {"doc_id": "pacte.txt", "title": "Le Pacte", "publisher": "ADF", "date": "2024", "section": "",
            "start_line": 1, "end_line": 4, "display": "Le Pacte compte quatre axes."}
    passage = Result(1, 0.03, "pacte.txt#0", meta["display"], meta, dense=0.81, lexical=7.5, catalog={})
    citations = [Citation(1, passage.chunk_id, passage.text, passage.source(), ["Le Pacte compte quatre axes."])]
    answered = outcome is Outcome.ANSWER
    return AnswerResult(question, question + " (autonome)", "Le Pacte compte quatre axes. [1]" if answered else "",
                        outcome, citations if answered else [], [passage], "extractive",
                        None if answered else Reason.UNCERTAIN, 0.91,
                        [] if answered else [{"n": 1, "sentence": "Le Pacte compte quatre axes.", "source": {}}],
                        timings={"retrieve_ms": 12.0, "total_ms": 30.0})


def test_an_old_store_is_migrated_once_and_keeps_its_avis(tmp_path):
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_FEEDBACK)
        conn.execute("INSERT INTO feedback (created_at, updated_at, rating, question, answer) "
                     "VALUES ('2026-11-01', '2026-11-01', 1, 'Q ?', 'R.')")
    store = FeedbackStore(path)
    assert store.count() == 1 and store.list()[0].question == "Q ?"
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert conn.execute("SELECT COUNT(*) FROM answer_log").fetchone()[0] == 0
    FeedbackStore(path).close()  # a second open applies nothing again (CREATE TABLE would fail)


def test_a_version_2_log_gains_the_filters_column_and_keeps_its_entries(tmp_path):
    from assistant.feedback import MIGRATIONS

    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as conn:  # a store as version 2 left it, with one logged answer
        for _, script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("INSERT INTO answer_log (created_at, source, question, standalone_question, outcome) "
                     "VALUES ('2026-11-01T10:00:00+00:00', 'web', 'Q ?', 'Q ?', 'answer')")
    log = AnswerLog(FeedbackStore(path), days=30)
    assert [(e["question"], e["filters"]) for e in log.entries()] == [("Q ?", {})]
    assert FeedbackStore.version(sqlite3.connect(path)) == 3


def test_an_entry_keeps_the_filters_it_was_searched_with(tmp_path):
    log = AnswerLog(FeedbackStore(tmp_path / DB_NAME), days=30)
    filters = Filter(("pacte.txt", "écrire à jean.dupont@example.fr"), "2020", "2024-06")
    log.append(_result("Quels sont les axes du Pacte ?"), source="cli", filters=filters)
    log.append(_result("Et le budget ?"), source="web")
    filtered, unfiltered = log.entries()
    assert filtered["filters"] == {"documents": ["pacte.txt", "écrire à [e-mail masqué]"], "since": "2020",
                                   "until": "2024-06"}
    assert unfiltered["filters"] == {} and Filter.from_dict(unfiltered["filters"]) is None
    assert Filter.from_dict(filtered["filters"]) == Filter(("pacte.txt", "écrire à [e-mail masqué]"), "2020",
                                                           "2024-06")
    assert rp.from_log(log)[0].filters == filtered["filters"]


def test_a_store_from_a_newer_version_is_refused_in_french(tmp_path):
    path = tmp_path / DB_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(FeedbackError, match="version plus récente"):
        FeedbackStore(path)


def test_entry_holds_the_decision_masked_and_retention_drops_old_ones(tmp_path):
    store = FeedbackStore(tmp_path / DB_NAME)
    log = AnswerLog(store, days=30)
    first = log.append(_result("Mon NIR est 1 84 12 75 123 456 78, quels sont les axes du Pacte ?"), source="web",
                       history=[{"role": "user", "content": "écrivez-moi à jean.dupont@example.fr"}], session="s1")
    entry = log.entries()[0]
    assert entry["id"] == first and entry["source"] == "web" and entry["session"] == "s1"
    assert "[NIR masqué]" in entry["question"] and "123 456" not in entry["question"]
    assert "[NIR masqué]" in entry["standalone_question"] and "[e-mail masqué]" in entry["history"][0]["content"]
    assert entry["retrieved"] == [{"chunk_id": "pacte.txt#0", "rank": 1, "score": 0.03, "dense": 0.81,
                                   "lexical": 7.5, "also_in": []}]
    assert (entry["outcome"], entry["reason"], entry["shown"]) == ("answer", "", [[1, "Le Pacte compte quatre axes."]])
    assert entry["timings"] == {"retrieve_ms": 12.0, "total_ms": 30.0} and entry["probability"] == 0.91
    check = log.append(_result("Et le budget ?", Outcome.CHECK), source="cli")
    assert log.entries(limit=1)[0]["id"] == check and log.entries(limit=1)[0]["reason"] == "uncertain"

    old = (datetime.now(timezone.utc) - timedelta(days=31)).isoformat(timespec="seconds")
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("UPDATE answer_log SET created_at = ? WHERE id = ?", (old, first))
    log.append(_result("Quels axes ?"), source="web")
    assert [e["id"] for e in log.entries()][:1] == [check]  # the 31-day-old entry is gone, the others stay
    assert len(log.entries()) == 2


def test_log_off_writes_nothing_and_an_unwritable_log_never_stops_an_answer(tmp_path, caplog):
    from assistant.settings import Settings

    record(Settings(data_dir=tmp_path / "off", answer_log_days=0), _result("Q ?"), source="cli")
    assert not (tmp_path / "off").exists()
    blocked = tmp_path / "fichier"
    blocked.write_text("pas un dossier", encoding="utf-8")
    record(Settings(data_dir=blocked / "data"), _result("Q ?"), source="cli")  # a warning, no exception
    assert "journal des réponses non écrit" in caplog.text


@pytest.mark.slow
def test_replay_finds_no_change_on_fresh_answers_and_names_a_changed_one(seed_index, tmp_path):
    settings = replace(seed_index[0], data_dir=tmp_path / "data", llm_backend="extractive")
    questions = ["Quel était le montant du fonds de contractualisation en 2019 ?",
                 "Donne-moi une recette de crêpes au fromage.", "Qu'est-ce que le Pacte des solidarités ?"]
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(json.dumps({"id": i, "question": q}, ensure_ascii=False)
                               for i, q in enumerate(questions)), encoding="utf-8")
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir), "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_COLLECTION": settings.collection, "ASSISTANT_LLM": "extractive",
           "ASSISTANT_DATA_DIR": str(settings.data_dir)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "assistant.cli", *args], env=env, capture_output=True,
                              text=True, timeout=600)

    asked = cli("ask", "--batch", str(batch), "--json")
    assert asked.returncode == 0, asked.stderr
    outcomes = [json.loads(line)["outcome"] for line in asked.stdout.splitlines()]
    log = AnswerLog.for_settings(settings)
    entries = log.entries()
    assert [e["question"] for e in entries] == questions and [e["outcome"] for e in entries] == outcomes
    assert all(e["source"] == "cli" and e["retrieved"] and e["timings"]["total_ms"] > 0 for e in entries)

    got = cli("replay", "--strict")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "3 réponses rejouées (3 sur leurs passages enregistrés" in got.stdout and "3 identiques, 0 changées" in got.stdout

    # A decision logged otherwise than today's code decides is named, with both sides.
    with sqlite3.connect(settings.data_dir / DB_NAME) as conn:
        conn.execute("UPDATE answer_log SET outcome = 'refuse', reason = 'low_confidence', shown = '[]' WHERE id = ?",
                     (entries[0]["id"],))
    got = cli("replay", "--strict")
    assert got.returncode == 1
    assert f"n° {entries[0]['id']} (cli " in got.stdout and f"refuse (low_confidence) → {outcomes[0]}" in got.stdout
    assert "2 identiques, 1 changées" in got.stdout

    # An eval cache line (no dense scores kept before): searched again, same decisions.
    cache = tmp_path / "answers-test.jsonl"
    lines = []
    for i, q in enumerate(questions):
        result = answer(q, None, settings)
        refs = [{k: r[k] for k in ("chunk_id", "score", "also_in")} for r in passage_refs(result.passages)]
        lines.append(json.dumps({"id": f"q{i}", "result": result.as_dict(), "passages": refs}, ensure_ascii=False))
    cache.write_text("\n".join(lines) + "\n{\"id\": \"cut", encoding="utf-8")  # an interrupted last line
    entries = rp.from_cache(cache)
    assert [e.before for e in entries] == [decision_of(json.loads(line)["result"]) for line in lines]
    from assistant.retrieve import get_retriever

    replayed = rp.run(entries, get_retriever(settings), settings)
    assert rp.summary(replayed) == {"replayed": 3, "unchanged": 3, "changed": 0, "rebuilt": 0, "moves": {}}


@pytest.mark.slow
def test_replay_searches_again_with_the_logged_filters(seed_index, tmp_path):
    from assistant.retrieve import get_retriever

    settings = replace(seed_index[0], data_dir=tmp_path / "data", llm_backend="extractive")
    question = "Quel était le montant du fonds de contractualisation en 2019 ?"
    filters = Filter((ARTICLE,))  # the 2023 article, which does not give the 2019 amount
    record(settings, answer(question, None, settings, filters), source="cli", filters=filters)
    entry = rp.from_log(AnswerLog.for_settings(settings))[0]
    assert entry.filters == {"documents": [ARTICLE], "since": "", "until": ""}
    # The filter matters for this question: without it, another decision.
    assert decision_of(answer(question, None, settings).as_dict()) != entry.before
    retriever = get_retriever(settings)
    assert rp.decide_again(entry, retriever, settings).changes == []  # on its stored passages
    searched = rp.decide_again(replace(entry, refs=None), retriever, settings)
    assert not searched.rebuilt and searched.changes == []  # searched again, within the same document
    gone = rp.decide_again(replace(entry, refs=None, filters={"documents": ["supprimé.txt"]}), retriever, settings)
    assert gone.after["outcome"] == "error" and "supprimé.txt" in gone.notes[0]
