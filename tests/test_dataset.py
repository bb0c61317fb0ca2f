"""The development and held-out sets are well formed, apart, and their gold quotes really are in the corpus."""

import re
from collections import Counter

import pytest

from evals.dataset import CATEGORIES, QuoteLocator, load

from assistant.lexical import fold

from .conftest import DEV_SET, HELDOUT2_SET, HELDOUT3_SET, HELDOUT_SET, SEED_CORPUS


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize("path, size, unanswerable", [(DEV_SET, 60, 10), (HELDOUT_SET, 40, 8), (HELDOUT2_SET, 36, 7),
                                                      (HELDOUT3_SET, 30, 6)],
                         ids=["dev", "heldout", "heldout2", "heldout3"])
def test_dataset_size_and_categories(path, size, unanswerable):
    items = load(path)
    assert len(items) >= size
    counts = Counter(i.category for i in items)
    assert set(counts) == set(CATEGORIES)
    assert counts["unanswerable"] >= unanswerable
    for item in items:
        assert item.question.strip()
        assert bool(item.evidence) == item.answerable, item.id


@pytest.mark.parametrize("path", [DEV_SET, HELDOUT_SET, HELDOUT2_SET, HELDOUT3_SET],
                         ids=["dev", "heldout", "heldout2", "heldout3"])
def test_every_quote_is_verbatim_in_its_file_and_holds_the_key_facts(path):
    texts = {p.name: _ws(p.read_text(encoding="utf-8")) for p in SEED_CORPUS.glob("*.txt")}
    missing = []
    for item in load(path):
        for ev in item.evidence:
            if _ws(ev["quote"]) not in texts.get(ev["file"], ""):
                missing.append((item.id, ev["file"], ev["quote"][:60]))
        quotes = fold(" ".join(_ws(ev["quote"]) for ev in item.evidence))  # the scorer ignores case and accents
        missing += [(item.id, fact) for fact in item.key_facts if fold(_ws(fact)) not in quotes]
    assert not missing, missing


@pytest.mark.parametrize("path, earlier", [(HELDOUT_SET, [DEV_SET]), (HELDOUT2_SET, [DEV_SET, HELDOUT_SET]),
                                           (HELDOUT3_SET, [DEV_SET, HELDOUT_SET, HELDOUT2_SET])],
                         ids=["heldout", "heldout2", "heldout3"])
def test_a_held_out_set_asks_other_questions_than_the_earlier_sets(path, earlier):
    # Thresholds are set on the development set; a held-out set only measures how much that flatters it.
    def words(text):
        return set(re.findall(r"[a-z0-9]{4,}", fold(text)))
    seen = [words(i.question) for p in earlier for i in load(p)]
    prefix = path.stem.replace("heldout", "h")
    for item in load(path):
        assert item.id.startswith(prefix), item.id
        mine = words(item.question)
        closest = max(len(mine & other) / len(mine | other) for other in seen)
        assert closest < 0.5, item.id


def test_quote_locator_finds_reposted_passage_in_both_documents():
    locator = QuoteLocator(SEED_CORPUS)
    # The article re-posts this sentence of the government document (typographic apostrophes there).
    spans = locator.spans("la Première ministre a réaffirmé l'engagement de l'État aux côtés des Départements")
    assert {doc for doc, _, _ in spans} == {
        "2023-11-10_gouvernement_etat-departements-actions-ambitions.txt",
        "2023-11-13_article_departements-pacte-des-solidarites.txt",
    }
