"""Sentences: a cleaned passage cut into whole sentences and list items, in order.

One definition for the two places that need it: the answer's candidates (candidates.py) and the
sentence vectors embedded at ingest (sentence_index.py), so a candidate's vector is found by the
hash of its text. Cleaned text keeps list items, bullets and headings glued to the next line, and
lines broken mid-sentence; they are cut or joined here.
"""

from __future__ import annotations

import re

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
