"""Candidates: the whole sentences of the retrieved passages, each with its neighbours.

The answer is made of these sentences verbatim, so they must be whole: cleaned text keeps
list items, bullets and headings glued to the next line, and lines broken mid-sentence.
The sentences are cut by sentences.split(), which the sentence index also embeds at ingest
(sentence_index.py), so a candidate's vector is found by the hash of its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .sentences import split

if TYPE_CHECKING:
    from .retrieve import Result


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
