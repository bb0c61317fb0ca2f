"""Deterministic checks on one answered question (no LLM, no randomness).

- retrieval hit@k and gold recall: the pipeline's own ranked passages against the gold
  quotes' spans (same rule as the retrieval benchmark, near-duplicates included);
- citation precision: each (answer sentence, cited passage) pair is precise when the
  passage holds a gold quote of the question, or when it holds every number of the
  sentence and at least 75 % of its content words (stricter than the verifier's 50 %,
  and computed on the whole passage, so it does not merely repeat the verifier's verdict);
- numbers supported: every number of the answer appears in a cited passage;
- refusal: refused or not, judged right or wrong from the item's `answerable` flag;
- French: more French than English stop words in the answer (see `is_french`).
"""

from __future__ import annotations

import re

from assistant.lexical import fold
from assistant.verify import content_terms, numbers

from .dataset import gold_found, hit_at

CITATION_OVERLAP = 0.75
QUOTE_MATCH = 0.8  # fuzzy containment of a gold quote in a passage (display text is cleaned)
_MARKERS = re.compile(r"\s*\[\d{1,2}(?:\s*[,;-]\s*\d{1,2})*\]")
_WORD = re.compile(r"[a-zà-ÿœæ]+")

# Frequent function words, each list without words the other language shares ("a", "on", "en"...).
_FRENCH = set("""le la les un une des du de au aux et est sont été être pour par sur dans avec ce cette ces
qui que quoi dont où il elle ils elles leur leurs son sa ses nous vous ne pas plus mais ou donc car
aussi entre selon sans sous lors depuis afin ainsi très été ont était sera seront peut doit""".split())
_ENGLISH = set("""the of and is are was were be been to for by with this that these those which who what
where it its they their them we you not no but or so also between according without under during
since from has have had will would can could should must there than into about""".split())


def strip_markers(text: str) -> str:
    return _MARKERS.sub("", text or "").strip()


def is_french(text: str) -> bool | None:
    """True/False by stop-word counts; None when the text has no stop word of either list."""
    words = _WORD.findall((text or "").lower())
    fr = sum(w in _FRENCH for w in words)
    en = sum(w in _ENGLISH for w in words)
    if fr == en == 0:
        return None
    return fr >= en


def quote_in(quote: str, passage: str) -> bool:
    """Whether a gold quote is in a passage, from text alone: the one definition for citation
    precision and for the LangChain baseline's hit@5 (bench/baseline.py), whose passages have no
    position in the corpus."""
    from rapidfuzz import fuzz

    return fuzz.partial_ratio(_ws(quote), _ws(passage)) / 100 >= QUOTE_MATCH


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def retrieval(item, passages, locator, catalog) -> dict:
    """Rank of the first gold passage and gold-quote recall at 1, 3 and 5 (answerable items)."""
    if not item.evidence:
        return {}
    spans = [locator.spans(e["quote"]) for e in item.evidence]
    first, recall5 = gold_found(passages, spans, catalog, 5)
    return {"gold_rank": first, **{f"hit_at_{k}": hit_at(first, k) for k in (1, 3, 5)}, "gold_recall_at_5": recall5}


def citations(item, result: dict) -> dict:
    """Citation precision pairs and numbers support, computed from the answer's own citations."""
    if result.get("refused"):
        return {}
    gold = [e["quote"] for e in item.evidence]
    pairs = precise = 0
    for c in result.get("citations", []):
        passage = c.get("text", "")
        is_gold = any(quote_in(q, passage) for q in gold)
        passage_terms, passage_numbers = content_terms(passage), numbers(passage)
        for sentence in c.get("sentences", []):
            pairs += 1
            terms = content_terms(sentence)
            overlap = len(terms & passage_terms) / len(terms) if terms else 0.0
            precise += is_gold or (numbers(sentence) <= passage_numbers and overlap >= CITATION_OVERLAP)
    text = strip_markers(result.get("answer", ""))
    cited = " ".join(c.get("text", "") for c in result.get("citations", []))
    unsupported = sorted(numbers(text) - numbers(cited))
    out = {"citation_pairs": pairs, "citation_precise": precise, "unsupported_numbers": unsupported,
           "numbers_supported": float(not unsupported)}
    if pairs:
        out["citation_precision"] = precise / pairs
    return out


def key_facts(item, result: dict) -> dict:
    facts = [f for f in item.key_facts if f]
    if not facts or not item.answerable:
        return {}
    found = found_facts(facts, result.get("answer", "") if not result.get("refused") else "")
    return {"key_facts_recall": len(found) / len(facts), "key_facts_missing": [f for f in facts if f not in found]}


def found_facts(facts: list[str], answer: str) -> list[str]:
    """The key facts an answer states (accents, case, spacing and thousands separators aside)."""
    text = normalize(strip_markers(answer))
    return [f for f in facts if normalize(f) in text]


def normalize(text: str) -> str:
    text = fold(text)
    text = re.sub(r"(?<=\d)[ .\u00a0\u202f](?=\d{3}\b)", "", text)
    return re.sub(r"\s+", " ", text)


def refusal(item, result: dict) -> dict:
    refused = bool(result.get("refused"))
    if item.answerable:
        return {"refused": refused, "false_refusal": float(refused)}
    return {"refused": refused, "refusal_correct": float(refused)}


def language(result: dict) -> dict:
    if result.get("refused"):
        return {}  # the refusal is a fixed French sentence: it would only flatter the rate
    french = is_french(strip_markers(result.get("answer", "")))
    return {} if french is None else {"answer_french": float(french)}


EVIDENCE_MATCH = 85  # rapidfuzz partial_ratio (0-100): the shorter text aligned inside the longer
EVIDENCE_MIN_CHARS = 20


def holds_evidence(sentence: str, quotes: list[str]) -> bool:
    """Whether a shown sentence is (part of) a gold quote, or holds one: the one definition of "this
    sentence answers", used for the scorer's training labels and the useful-answer measure."""
    from rapidfuzz import fuzz

    text = _ws(strip_markers(sentence))
    if len(text) < EVIDENCE_MIN_CHARS:
        return False
    return any(fuzz.partial_ratio(_ws(q), text) >= EVIDENCE_MATCH for q in quotes if len(q) >= EVIDENCE_MIN_CHARS)


def decision(item, result: dict) -> dict:
    """Outcome of the three-way decision and whether the answer shown holds the evidence."""
    outcome = result.get("outcome") or ("refuse" if result.get("refused") else "answer")
    out = {"outcome": outcome}
    quotes = [e["quote"] for e in item.evidence]
    shown = [s for c in result.get("citations", []) for s in c.get("sentences", [])] if outcome == "answer" else []
    correct = bool(shown) and item.answerable and any(holds_evidence(s, quotes) for s in shown)
    # For the risk-coverage curve: would the best sentences have held the evidence, had they been shown?
    best = shown or [h["sentence"] for h in result.get("highlight", [])]
    out["holds_evidence_best"] = bool(item.answerable and any(holds_evidence(s, quotes) for s in best))
    if item.answerable:
        out["useful_answer"] = float(correct)
        out["strict_refusal"] = float(outcome == "refuse")
        out["evidence_shown"] = float(outcome != "refuse" and out["holds_evidence_best"])
    if outcome == "answer":
        out["answer_correct"] = float(correct)
    return out


def risk_coverage(scored: list[tuple[float, bool]]) -> dict | None:
    """(probability, correct) per question, answered in decreasing probability: the share answered
    (coverage) against the share of those answers that are wrong (risk), and the area under that
    curve (lower is better). The one definition used by the suite's report and by training."""
    if not scored:
        return None
    ordered = sorted(scored, key=lambda pc: -pc[0])
    coverage, risk, wrong = [], [], 0
    for i, (_, correct) in enumerate(ordered, 1):
        wrong += not correct
        coverage.append(round(i / len(ordered), 4))
        risk.append(round(wrong / i, 4))
    area = sum((coverage[i] - coverage[i - 1]) * (risk[i] + risk[i - 1]) / 2 for i in range(1, len(coverage)))
    return {"coverage": coverage, "risk": risk, "aurc": round(area, 4)}
