"""Candidates: the whole sentences of the retrieved passages, each with its neighbours.

The answer is made of these sentences verbatim, so they must be whole: cleaned text keeps
list items, bullets and headings glued to the next line, and lines broken mid-sentence.
`split()` is also what the sentence index embeds at ingest (sentence_index.py), so a
candidate's vector is found by the hash of its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # retrieve imports the splitter through sentence_index
    from .retrieve import Result

# A sentence ends at . ! ? … (then a capital, a digit, a quote or a bullet), or at a line break.
_END = re.compile(r"(?<=[.!?…])[\"»)]?\s+(?=[A-ZÀ-Ý«\"(\[0-9•▪–—-])")
_BULLET = re.compile(r"\s+(?=[•▪●■◦➢➤►✓]\s*)")  # a dash inside a line is punctuation (« – ce qui… »)
_CLOSED = re.compile(r"[.!?…:;»)\]]\s*$")
_OPENS_LOW = re.compile(r"^[a-zà-ÿ(,]")
MIN_CHARS = 3


def split(text: str) -> list[str]:
    """Whole sentences and list items of a cleaned passage, in order."""
    lines = [ln.strip() for ln in text.split("\n")]
    # A line that does not close and is followed by one opening in lowercase is one sentence
    # broken by the layout; join them before cutting into sentences.
    joined: list[str] = []
    for line in lines:
        if not line:
            continue
        if joined and not _CLOSED.search(joined[-1]) and _OPENS_LOW.match(line):
            joined[-1] = f"{joined[-1]} {line}"
        else:
            joined.append(line)
    out: list[str] = []
    for line in joined:
        for part in _END.split(line):
            for item in _BULLET.split(part):
                item = item.strip()
                if len(item) >= MIN_CHARS and any(c.isalnum() for c in item):
                    out.append(item)
    return out


@dataclass(frozen=True)
class Candidate:
    """One sentence of one retrieved passage."""

    passage: int  # 1-based position of its passage among those given to the answer step
    index: int  # position of the sentence in its passage
    text: str
    before: str  # the previous sentence of the passage ("" at the start)
    after: str  # the next sentence ("" at the end)
    result: "Result"

    @property
    def key(self) -> tuple[int, int]:
        return self.passage, self.index


def collect(results: list["Result"]) -> list[Candidate]:
    """Every sentence of `results` (in rank order), with its neighbours."""
    out = []
    for n, result in enumerate(results, 1):
        sentences = split(result.text)
        for i, sentence in enumerate(sentences):
            out.append(Candidate(n, i, sentence, sentences[i - 1] if i else "",
                                 sentences[i + 1] if i + 1 < len(sentences) else "", result))
    return out
