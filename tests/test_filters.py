"""Search filters (by document, by the documents' dates) and search --explain, on the real seed index."""

import json

import pytest

from assistant.errors import QuestionError
from assistant.lexical import analyze
from assistant.retrieve import Filter

from .conftest import ANDASS, ARTICLE, BROCHURE, GOVERNMENT, STRATEGY
from .test_cli import _run

QUESTION = "fonds de soutien aux départements"


def _docs(results):
    return {r.meta["doc_id"] for r in results}


def test_filters_return_only_matching_documents(seed_retriever):
    unfiltered = seed_retriever.search(QUESTION, k=8)
    assert len(_docs(unfiltered)) > 1  # else the filters below would prove nothing
    assert _docs(seed_retriever.search(QUESTION, k=8, filters=Filter(documents=(ANDASS,)))) == {ANDASS}
    # words of the title, accents and case aside; several documents
    by_title = seed_retriever.search(QUESTION, k=8, filters=Filter(documents=("gros temps", "STRATEGIE pauvrete")))
    assert _docs(by_title) <= {ANDASS, STRATEGY} and len(by_title) == 8
    # date ranges: a year-only date (2021) is in 2021-06 .. 2021-12; both ends included
    assert _docs(seed_retriever.search(QUESTION, k=8, filters=Filter(since="2023-11-11"))) == {ARTICLE, ANDASS}
    assert _docs(seed_retriever.search(QUESTION, k=8, filters=Filter(until="2021"))) == {BROCHURE, STRATEGY}
    assert _docs(seed_retriever.search(QUESTION, k=8, filters=Filter(since="2021-06", until="2021-12"))) == {BROCHURE}
    assert _docs(seed_retriever.search(QUESTION, k=8, filters=Filter(since="2023-11-10", until="2023-11-10"))) == {
        GOVERNMENT}


@pytest.mark.parametrize("filters, message", [
    (Filter(documents=("Morbihan",)), "Aucun document indexé ne correspond à « Morbihan »"),
    (Filter(since="2025", until="2024"), "Période impossible"),
    (Filter(since="2030"), "Aucun document indexé n'est daté de cette période"),
    (Filter(until="hier"), "invalide"),
])
def test_a_filter_that_cannot_match_is_a_french_message(seed_retriever, filters, message):
    with pytest.raises(QuestionError, match=message):
        seed_retriever.search(QUESTION, filters=filters)


def test_the_cli_filters_and_explains(seed_index):
    settings, _ = seed_index
    out = _run(["search", QUESTION, "--k", "3", "--doc", ANDASS, "--explain", "--json"], settings)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert {r["source"]["doc_id"] for r in results} == {ANDASS}
    for r in results:
        assert r["dense_rank"] >= 1 and r["fused_score"] > 0
        # the matched words are the question's own stems (no acronym here for the glossary to expand)
        assert r["lexical_rank"] is None or r["matched_terms"] and set(r["matched_terms"]) <= set(analyze(QUESTION))
    again = json.loads(_run(["search", QUESTION, "--k", "3", "--doc", ANDASS, "--explain", "--json"],
                            settings).stdout)["results"]
    assert again == results  # stable from one run to the next
    text = _run(["search", QUESTION, "--k", "2", "--explain"], settings)
    assert "rang dense" in text.stdout and "mots : " in text.stdout
    bad = _run(["search", QUESTION, "--since", "2025", "--until", "2024"], settings)
    assert bad.returncode != 0 and "Période impossible" in bad.stdout + bad.stderr and "Traceback" not in bad.stderr


def test_the_answer_and_its_explanation_obey_the_filter(seed_index):
    from dataclasses import replace

    from assistant.answer import answer, explain

    settings = replace(seed_index[0], llm_backend="extractive")
    got = answer(QUESTION, settings=settings, filters=Filter(documents=(ANDASS,)))
    assert {p.meta["doc_id"] for p in got.passages} == {ANDASS}
    with pytest.raises(QuestionError, match="Période impossible"):
        explain(QUESTION, settings=settings, filters=Filter(since="2025", until="2024"))
