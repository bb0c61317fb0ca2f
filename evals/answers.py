"""The evaluation's answers: every question run through the real pipeline (`assistant.answer`).

Answers are cached per question and configuration in a JSONL file, so an interrupted run
resumes and a changed verifier can be replayed on the model's raw text. Scoring is in
`checks.py`, aggregation in `suite.py` (`assistant eval`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answer import answer, clean_history, search
from assistant.answer_log import passage_refs
from assistant.errors import AssistantError
from assistant.llm import generates
from assistant.replay import cache_lines, passages_from_refs
from assistant.retrieve import Result, get_retriever
from assistant.settings import PACKAGE_DIR, Settings, answer_independent

from .dataset import Item


def source_hash() -> str:
    """Hash of the package's code and data: a changed scorer, verifier or splitter is never reported with
    answers cached by the old code."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json", ".toml"):
            h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _file_hash(path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def config_key(settings: Settings) -> str:
    """Identity of everything that shapes an answer: settings, LLM, prompts' text."""
    from assistant.llm import identity

    ignored = answer_independent()  # declared in settings.py: where files live, the web app, the judge
    keep = {k: v for k, v in settings.public().items() if k not in ignored}
    prompts = "".join(p.read_text(encoding="utf-8") for p in sorted(Path(settings.prompts_dir).glob("*.md")))
    raw = json.dumps([keep, identity(settings), prompts, source_hash(), _file_hash(settings.scorer_path)],
                     sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


@dataclass
class Answered:
    """One question run through the pipeline: its answer (as_dict) and the passages it retrieved."""

    item: Item
    result: dict
    passages: list[Result] = field(default_factory=list)
    cached: bool = False


def _passages(retriever, refs, item: Item, result: dict, settings: Settings) -> list[Result]:
    """The ranked passages the answer was built on: from the cache, else the same search again."""
    stored = passages_from_refs(retriever, refs)
    if stored is not None:
        return stored
    question = result.get("standalone_question") or item.question
    try:  # the answer path's search is deterministic: same question, same history, same passages
        return search(retriever, question, clean_history(item.history), settings)
    except AssistantError:
        return []


def is_fallback(settings: Settings, result: dict) -> bool:
    """Write style: the LLM failed (timeout, crash, server down) and the extractive answer stood in."""
    return (settings.answer_style == "write" and generates(settings)
            and result.get("outcome") == "answer" and result.get("backend") == "extractive")


def cache_path(settings: Settings, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"answers-{config_key(settings)}.jsonl"


def collect(settings: Settings, items: list[Item], cache_dir: Path,
            progress=lambda *a: None, refresh: bool = False) -> list[Answered]:
    """Answer every item with the real pipeline, reusing (and appending to) the per-configuration cache.

    `refresh`: answer again; the new lines are appended and, being later, win on the next read.
    """
    path = cache_path(settings, cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    cached = cache_lines(path) if path.exists() and not refresh else {}
    retriever = get_retriever(settings)
    out = []
    with open(path, "a", encoding="utf-8") as handle:
        for i, item in enumerate(items, 1):
            entry = cached.get(item.id)
            if (entry is not None and entry.get("result", {}).get("question") == item.question
                    and not is_fallback(settings, entry["result"])):
                result = entry["result"]
                out.append(Answered(item, result, _passages(retriever, entry.get("passages"), item, result, settings), True))
            else:
                try:
                    got = answer(item.question, item.history, settings)
                    result, passages = got.as_dict(), got.passages
                    result["raw"] = got.raw  # the model's text before the verifier: lets a changed verifier be replayed
                except AssistantError as exc:
                    result = {"question": item.question, "answer": "", "refused": True, "citations": [],
                              "timings": {}, "error": str(exc)}
                    passages = []
                if not is_fallback(settings, result):  # a timeout says how busy the machine was, not the config
                    handle.write(json.dumps({"id": item.id, "result": result, "passages": passage_refs(passages)},
                                            ensure_ascii=False) + "\n")
                    handle.flush()
                out.append(Answered(item, result, passages))
            progress(i, len(items), item.id)
    return out
