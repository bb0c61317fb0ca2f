"""The evaluation dataset: reading it, checking it, and locating its gold quotes in the corpus."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = (
    "factual", "definition", "synthesis", "list", "paraphrase", "ocr", "typo", "english",
    "followup", "unanswerable", "injection",
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


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


def load(path: Path) -> list[Item]:
    """Items of a JSONL dataset; a malformed line is an error naming the line."""
    items, seen = [], set()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = Item(
                id=str(raw["id"]), question=str(raw["question"]), category=str(raw["category"]),
                answerable=bool(raw.get("answerable", True)), history=list(raw.get("history") or []),
                reference_answer=str(raw.get("reference_answer", "")),
                evidence=list(raw.get("evidence") or []), key_facts=list(raw.get("key_facts") or []),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}, ligne {number} : entrée invalide ({exc}).") from exc
        if item.category not in CATEGORIES:
            raise DatasetError(f"{path}, ligne {number} : catégorie inconnue « {item.category} ».")
        if item.id in seen:
            raise DatasetError(f"{path}, ligne {number} : identifiant en double « {item.id} ».")
        seen.add(item.id)
        items.append(item)
    return items


def _normalized_with_offsets(text: str) -> tuple[str, list[int]]:
    """Whitespace runs collapsed to one space, apostrophes unified, with source offsets."""
    out, offsets, in_space = [], [], False
    for i, ch in enumerate(text.translate(_APOSTROPHES)):
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


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_APOSTROPHES)).strip()


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
