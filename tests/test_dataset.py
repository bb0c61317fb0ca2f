"""The development set is well formed and its gold quotes really are in the corpus."""

import re
from collections import Counter

from evals.dataset import CATEGORIES, QuoteLocator, load

from .conftest import DEV_SET, SEED_CORPUS


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_dataset_size_and_categories():
    items = load(DEV_SET)
    assert len(items) >= 60
    counts = Counter(i.category for i in items)
    assert set(counts) <= set(CATEGORIES)
    assert counts["unanswerable"] >= 10 and counts["factual"] >= 10
    for item in items:
        assert item.question.strip()
        assert bool(item.evidence) == item.answerable, item.id


def test_every_quote_is_verbatim_in_its_file():
    texts = {p.name: _ws(p.read_text(encoding="utf-8")) for p in SEED_CORPUS.glob("*.txt")}
    missing = []
    for item in load(DEV_SET):
        for ev in item.evidence:
            if _ws(ev["quote"]) not in texts.get(ev["file"], ""):
                missing.append((item.id, ev["file"], ev["quote"][:60]))
    assert not missing, missing


def test_quote_locator_finds_reposted_passage_in_both_documents():
    locator = QuoteLocator(SEED_CORPUS)
    # The article re-posts this sentence of the government document (typographic apostrophes there).
    spans = locator.spans("la Première ministre a réaffirmé l'engagement de l'État aux côtés des Départements")
    assert {doc for doc, _, _ in spans} == {
        "2023-11-10_gouvernement_etat-departements-actions-ambitions.txt",
        "2023-11-13_article_departements-pacte-des-solidarites.txt",
    }
