"""The evaluation's shared measures (evals/), the ones bench/ imports: each defined once, checked here."""

from assistant.retrieve import Result
from evals import checks
from evals.retrieval import gold_found, hit_at, summarize


def _result(rank: int, chunk_id: str, doc_id: str, start: int, end: int, also_in=()) -> Result:
    return Result(rank, 1.0 / rank, chunk_id, "texte", {"doc_id": doc_id, "start": start, "end": end},
                  also_in=list(also_in))


def test_gold_rank_and_recall_follow_spans_and_near_duplicates():
    catalog = {"b#2": {"doc_id": "b.txt", "start": 500, "end": 900}}
    results = [_result(1, "a#1", "a.txt", 0, 300), _result(2, "a#7", "a.txt", 2000, 2400, also_in=["b#2"]),
               _result(6, "a#9", "a.txt", 5000, 5400)]
    # Quote 0 lies in b.txt only (found through the near-duplicate at rank 2); quote 1 only at rank 6.
    spans = [[("b.txt", 600, 700)], [("a.txt", 5100, 5300)]]
    first, recall5 = gold_found(results, spans, catalog, 5)
    assert (first, recall5) == (2, 0.5)
    assert gold_found(results, spans, catalog, 10) == (2, 1.0)
    assert [hit_at(first, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0] and hit_at(None, 5) == 0.0
    # A passage touching a quote's span by a few characters is not gold.
    assert gold_found([_result(1, "a#1", "a.txt", 0, 5110)], [[("a.txt", 5100, 5300)]], {}, 5) == (None, 0.0)


def test_benchmark_summary_and_answer_check_count_hits_the_same_way():
    rows = [{"rank": r, "recall5": 1.0 if r else 0.0, "context": 1.0, "sentence": 0.0, "ms": 1.0}
            for r in (1, 3, 4, None)]
    got = summarize(rows, 10)
    assert (got["hit@1"], got["hit@3"], got["hit@5"]) == (0.25, 0.5, 0.75)
    assert got["mrr@10"] == (1 + 1 / 3 + 1 / 4) / 4

    class Locator:
        def spans(self, quote):
            return [("a.txt", 2100, 2200)]

    class Item:
        evidence = [{"quote": "q"}]

    results = [_result(1, "a#1", "a.txt", 0, 300), _result(2, "a#7", "a.txt", 2000, 2400)]
    check = checks.retrieval(Item, results, Locator(), {})
    assert check == {"gold_rank": 2, "hit_at_1": 0.0, "hit_at_3": 1.0, "hit_at_5": 1.0, "gold_recall_at_5": 1.0}


def test_quote_in_passage_from_text_alone():
    passage = ("Le fonds de contractualisation, d’un montant de 135 millions d’euros en 2019, sera porté "
               "à 210 millions d’euros en 2022.")
    assert checks.quote_in("d’un montant de 135 millions d’euros en 2019", passage)
    assert checks.quote_in("d’un  montant de\n135 millions d’euros en 2019", passage)  # line breaks of the source
    assert not checks.quote_in("Le revenu de solidarité active est versé par la CAF.", passage)


def test_key_facts_ignore_accents_case_markers_and_thousand_separators():
    answer = "Le plafond est de 1 200 euros [1] ; l'ÉTAT finance [2]."
    assert checks.found_facts(["1200 euros", "l'etat finance", "30 juin"], answer) == ["1200 euros", "l'etat finance"]
    assert checks.normalize("12\u202f500  Départements") == "12500 departements"
