"""Replay: the current decision code over logged or eval-cached answers, and what changed.

Each entry's passages are rebuilt from its stored ids and scores when it has them all (the answer
log), else searched again with its standalone question and the filters it was asked with (eval
cache lines keep no dense scores; the search is deterministic). Then gates, candidates, features,
scorer, decision and the grounding check run as `assistant.answer.stream` runs them, and the outcome, reason code and
sentences shown are compared with the stored ones (masked the same way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .answer import get_scorer, scored, search
from .answer_log import decision_of
from .errors import QuestionError
from .ground import ground
from .privacy import redact
from .retrieve import Filter, Result

MASKED = "masqu"  # every privacy placeholder holds it: « [NIR masqué] », « [adresse masquée] »…


@dataclass
class Entry:
    """One stored answer to replay."""

    id: str
    question: str
    standalone: str
    history: list
    refs: list | None
    before: dict  # outcome, reason, shown
    origin: str = ""  # « web 2026-12-01T22:30:00 », « cache »
    filters: dict = field(default_factory=dict)  # retrieve.Filter.as_dict(): documents, date range


@dataclass
class Replayed:
    entry: Entry
    after: dict
    rebuilt: bool  # passages rebuilt from the stored ids (else searched again)
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        b, a = self.entry.before, self.after
        out = []
        if (b["outcome"], b["reason"]) != (a["outcome"], a["reason"]):
            out.append(f"{_label(b)} → {_label(a)}")
        if sorted(map(tuple, b["shown"])) != sorted(map(tuple, a["shown"])):
            out.append("phrases montrées : " + _sentences(b["shown"]) + " → " + _sentences(a["shown"]))
        return out


def _label(d: dict) -> str:
    return d["outcome"] + (f" ({d['reason']})" if d["reason"] else "")


def _sentences(shown: list) -> str:
    return "; ".join(f"[{n}] « {s[:70]}{'…' if len(s) > 70 else ''} »" for n, s in shown) or "aucune"


def passages_from_refs(retriever, refs) -> list[Result] | None:
    """The passages stored as ids and scores, from the opened index; None when one is gone."""
    catalog = retriever.catalog
    if refs is None or not all(r["chunk_id"] in catalog for r in refs):
        return None
    return [Result(ref.get("rank", n), ref["score"], ref["chunk_id"], catalog[ref["chunk_id"]]["display"],
                   catalog[ref["chunk_id"]], ref.get("dense"), ref.get("lexical"),
                   also_in=[a for a in ref.get("also_in", []) if a in catalog], catalog=catalog)
            for n, ref in enumerate(refs, 1)]


def decide_again(entry: Entry, retriever, settings) -> Replayed:
    complete = entry.refs is not None and all("dense" in r and "lexical" in r for r in entry.refs)
    passages = passages_from_refs(retriever, entry.refs) if complete else None
    rebuilt = passages is not None
    if passages is None:
        try:
            passages = search(retriever, entry.standalone, entry.history, settings, Filter.from_dict(entry.filters))
        except QuestionError as exc:  # e.g. the filter's document has been deleted since
            return Replayed(entry, {"outcome": "error", "reason": "", "shown": []}, False, [str(exc)])
    given = passages[: settings.answer_passages]
    decision, _ = ground(scored(entry.standalone, given, retriever, get_scorer(settings), settings,
                                entry.question).decision)
    after = {"outcome": decision.outcome.value, "reason": decision.reason.value if decision.reason else "",
             "shown": [[c.passage, redact(c.text)] for c in decision.shown]}
    notes = []
    if complete and not rebuilt:
        notes.append("passages absents de l'index actuel : recherche refaite")
    if MASKED in entry.standalone:
        notes.append("question masquée avant d'être journalisée : le contrôle des données personnelles ne la voit plus")
    return Replayed(entry, after, rebuilt, notes)


def from_log(answer_log, limit: int | None = None) -> list[Entry]:
    return [Entry(str(e["id"]), e["question"], e["standalone_question"], e["history"], e["retrieved"],
                  {"outcome": e["outcome"], "reason": e["reason"], "shown": e["shown"]},
                  f"{e['source']} {e['created_at']}", e["filters"]) for e in answer_log.entries(limit)]


def cache_lines(path: Path) -> dict[str, dict]:
    """An eval cache file's entries by question id; a later line wins, a cut line is skipped."""
    latest: dict[str, dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            got = json.loads(line)
            latest[got["id"]] = got
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut by an interrupted run: that question is answered again
    return latest


def from_cache(path: Path, histories: dict | None = None) -> list[Entry]:
    """The answers of one eval cache file (the last line of an id wins, as `assistant eval` reads it).

    `histories`: (id, question) → the dataset item's history, for follow-up questions.
    """
    out = []
    for item_id, got in cache_lines(path).items():
        result = got.get("result") or {}
        if result.get("error") or not result.get("standalone_question"):
            continue  # the question never reached the decision
        history = (histories or {}).get((item_id, result.get("question", "")), [])
        out.append(Entry(item_id, result.get("question", ""), result["standalone_question"], history,
                         got.get("passages"), decision_of(result), "cache"))
    return out


def run(entries: list[Entry], retriever, settings) -> list[Replayed]:
    return [decide_again(e, retriever, settings) for e in entries]


def summary(replayed: list[Replayed]) -> dict:
    changed = [r for r in replayed if r.changes]
    moves: dict[str, int] = {}
    for r in changed:
        key = f"{_label(r.entry.before)} → {_label(r.after)}"
        moves[key] = moves.get(key, 0) + 1
    return {"replayed": len(replayed), "unchanged": len(replayed) - len(changed), "changed": len(changed),
            "rebuilt": sum(r.rebuilt for r in replayed), "moves": moves}
