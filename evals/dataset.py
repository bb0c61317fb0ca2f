"""The evaluation dataset: reading it, checking it, and locating its gold quotes in the corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.lexical import APOSTROPHES, same_spacing

CATEGORIES = (
    "factual", "definition", "synthesis", "list", "paraphrase", "ocr", "typo", "english",
    "followup", "unanswerable", "injection",
)


class DatasetError(ValueError):
    pass


@dataclass
class Item:
    id: str
    question: str
    category: str
    answerable: bool
    history: list = field(default_factory=list)
    reference_answer: str = ""
    evidence: list = field(default_factory=list)
    key_facts: list = field(default_factory=list)


def _item(raw) -> Item:
    """One dataset entry, checked field by field; ValueError says which field is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("la ligne doit être un objet JSON {…}")
    for name in ("id", "question", "category"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise ValueError(f"champ « {name} » absent ou vide")
    if raw["category"] not in CATEGORIES:
        raise ValueError(f"catégorie inconnue « {raw['category']} » (connues : {', '.join(CATEGORIES)})")
    answerable = raw.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ValueError("le champ « answerable » doit valoir true ou false")
    if answerable and raw["category"] in ("unanswerable", "injection"):
        raise ValueError(f"une question de catégorie « {raw['category']} » doit avoir \"answerable\": false")
    history = raw.get("history") or []
    if not isinstance(history, list) or not all(
            isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
            for t in history):
        raise ValueError("« history » doit être une liste de messages {\"role\": \"user\"|\"assistant\", \"content\": \"…\"}")
    evidence = raw.get("evidence") or []
    if not isinstance(evidence, list) or not all(
            isinstance(e, dict) and isinstance(e.get("file"), str) and isinstance(e.get("quote"), str) and e["quote"].strip()
            for e in evidence):
        raise ValueError("« evidence » doit être une liste de {\"file\": \"…\", \"quote\": \"…\"}")
    key_facts = raw.get("key_facts") or []
    if not isinstance(key_facts, list) or not all(isinstance(f, str) for f in key_facts):
        raise ValueError("« key_facts » doit être une liste de textes")
    reference = raw.get("reference_answer", "")
    if not isinstance(reference, str):
        raise ValueError("« reference_answer » doit être un texte")
    return Item(id=raw["id"].strip(), question=raw["question"], category=raw["category"], answerable=answerable,
                history=history, reference_answer=reference, evidence=evidence, key_facts=key_facts)


def read(path: Path) -> tuple[list[Item], list[str]]:
    """Items of a JSONL dataset, and one French message per line that could not be used."""
    items, errors, seen = [], [], set()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} : jeu de questions illisible ({exc}).") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = _item(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"{path}, ligne {number} : JSON invalide ({exc.msg}, colonne {exc.colno}).")
            continue
        except ValueError as exc:
            errors.append(f"{path}, ligne {number} : {exc}.")
            continue
        if item.id in seen:
            errors.append(f"{path}, ligne {number} : identifiant en double « {item.id} ».")
            continue
        seen.add(item.id)
        items.append(item)
    return items, errors


def load(path: Path) -> list[Item]:
    """Items of a JSONL dataset; the first malformed line is an error naming the line."""
    items, errors = read(path)
    if errors:
        raise DatasetError(errors[0])
    return items


def _normalized_with_offsets(text: str) -> tuple[str, list[int]]:
    """Whitespace runs collapsed to one space, apostrophes unified, with source offsets."""
    out, offsets, in_space = [], [], False
    for i, ch in enumerate(text.translate(APOSTROPHES)):
        if ch.isspace():
            if not in_space and out:
                out.append(" ")
                offsets.append(i)
            in_space = True
            continue
        in_space = False
        out.append(ch)
        offsets.append(i)
    return "".join(out), offsets


normalize = same_spacing  # one definition, in assistant/lexical.py (the feedback export uses it too)


class QuoteLocator:
    """Finds where a quote stands in every corpus file (the same text may be in two)."""

    def __init__(self, corpus_dir: Path):
        self.files: dict[str, tuple[str, list[int]]] = {}
        for path in sorted(Path(corpus_dir).rglob("*")):
            if path.is_file() and path.suffix.lower() in (".txt", ".md", ".markdown"):
                rel = path.relative_to(corpus_dir).as_posix()
                self.files[rel] = _normalized_with_offsets(path.read_text(encoding="utf-8", errors="replace"))

    def spans(self, quote: str) -> list[tuple[str, int, int]]:
        needle = normalize(quote)
        out = []
        for doc_id, (norm, offsets) in self.files.items():
            pos = norm.find(needle)
            while pos >= 0:
                out.append((doc_id, offsets[pos], offsets[pos + len(needle) - 1] + 1))
                pos = norm.find(needle, pos + 1)
        return out


# ----- where a gold quote is found among retrieved passages (the checks and the benchmark) -----
def _covers(meta: dict, span: tuple[str, int, int]) -> bool:
    doc_id, start, end = span
    if meta["doc_id"] != doc_id:
        return False
    overlap = min(end, meta["end"]) - max(start, meta["start"])
    return overlap >= min(100, (end - start) / 2)


def _hits(result, spans_per_quote, catalog) -> set[int]:
    """Indices of the gold quotes this result covers."""
    metas = [result.meta] + [catalog[c] for c in result.also_in]
    return {q for q, spans in enumerate(spans_per_quote) if any(_covers(m, s) for m in metas for s in spans)}


def gold_found(results, spans_per_quote, catalog, k: int = 5) -> tuple[int | None, float]:
    """Rank of the first gold passage, and the share of gold quotes covered within the first k:
    the one definition behind hit@k and recall@k, for the benchmark and the answer checks."""
    first, covered = None, set()
    for r in results:
        got = _hits(r, spans_per_quote, catalog)
        if got and first is None:
            first = r.rank
        if r.rank <= k:
            covered |= got
    return first, len(covered) / len(spans_per_quote)


def hit_at(rank: int | None, k: int) -> float:
    return float(rank is not None and rank <= k)
