"""Whole sentences: does any shown sentence start or end mid-sentence? (#19)

Asks every question of the given sets through the library's answer function (no LLM, so the
follow-ups use the deterministic rewrite) and checks each sentence the user is shown, as an answer or
as a sentence to check:
- it starts mid-sentence when its first letter is lower case and it is not a list item
  (« hapy.entraidonsnous.fr, a été mise en place… »);
- it ends mid-sentence when it has no closing punctuation and is not a short heading or list line
  (« …concernent principalement les Départements La prévention de la pauvreté… » runs on).

    python -m evals.whole_sentences [--sets dev heldout …]

Prints the counts and every offending sentence; exit code 1 when there is one.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace

from assistant.answer import answer
from assistant.features import is_heading
from assistant.outcome import Outcome
from assistant.settings import Settings

from .dataset import load
from .train import DATASETS, TRAINING_SETS

_ITEM = re.compile(r"^\s*(?:[•▪●■◦➢➤►✓–—*-]|\d+[.)°]|[a-z]\))\s")
_CLOSED = re.compile(r"[.!?…:;»)\]\"”*]\s*$")


def starts_mid(sentence: str) -> bool:
    text = sentence.lstrip(" «\"“(")
    first = next((ch for ch in text if ch.isalpha()), "")
    return bool(first) and first.islower() and not _ITEM.match(sentence)


def ends_mid(sentence: str) -> bool:
    return not _CLOSED.search(sentence) and not is_heading(sentence)


def shown(result) -> list[str]:
    if result.citations:
        return [s for c in result.citations for s in c.sentences]
    return [h["sentence"] for h in result.highlight] if result.outcome is Outcome.CHECK else []


def check(sets: tuple[str, ...], settings: Settings) -> tuple[int, list[tuple[str, str, str]]]:
    """(sentences shown, [(question id, what is wrong, sentence)])."""
    count, bad = 0, []
    for name in sets:
        for item in load(DATASETS / f"{name}.jsonl"):
            try:
                result = answer(item.question, item.history, settings)
            except Exception as exc:  # a question the library refuses (bad input) shows nothing
                print(f"{item.id} : {exc}", file=sys.stderr)
                continue
            for sentence in shown(result):
                count += 1
                if starts_mid(sentence):
                    bad.append((item.id, "commence au milieu d'une phrase", sentence))
                if ends_mid(sentence):
                    bad.append((item.id, "s'arrête au milieu d'une phrase", sentence))
    return count, bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Phrases montrées entières : aucune ne commence ni ne finit au milieu.")
    parser.add_argument("--sets", nargs="+", default=list(TRAINING_SETS), help="jeux de questions (evals/datasets)")
    args = parser.parse_args(argv)
    settings = replace(Settings.from_env(), llm_backend="extractive")
    count, bad = check(tuple(args.sets), settings)
    for qid, what, sentence in bad:
        print(f"{qid} : {what} : « {sentence} »")
    print(f"{count} phrases montrées sur {', '.join(args.sets)} ; {len(bad)} coupées.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
