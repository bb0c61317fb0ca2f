"""Découvrir: starter questions really answered by the corpus, document cards, glossary; escaping."""

import re
from dataclasses import replace

import pytest

from assistant import render
from assistant.answer import answer
from assistant.outcome import Outcome
from assistant.discover import document_cards, glossary, load_starters
from assistant.documents import list_documents
from assistant.retrieve import Retriever
from evals.dataset import normalize

THEMES, GLOSSARY_CONF = load_starters()
STARTERS = [(t.name, q["q"], q["expect"]) for t in THEMES for q in t.questions]


def test_every_theme_of_the_issue_has_starters():
    names = " ".join(t.name.lower() for t in THEMES)
    for word in ("insertion", "rsa", "enfance", "autonomie", "handicap", "santé", "finances", "transition écologique"):
        assert word in names
    assert all(len(t.questions) >= 3 for t in THEMES)


@pytest.fixture(scope="module")
def seed(seed_index):
    settings = replace(seed_index[0], llm_backend="extractive")
    return settings, Retriever(settings)


@pytest.mark.parametrize("theme, question, expect", STARTERS)
def test_starter_question_is_answered_by_the_corpus(seed, theme, question, expect):
    settings, retriever = seed
    passages = " ".join(normalize(r.text) for r in retriever.search(question, k=settings.answer_passages))
    assert normalize(expect).lower() in passages.lower(), (question, expect)
    result = answer(question, settings=settings)
    # A new hire's first click gets an answer, not passages to check, and it holds the key fact.
    assert result.outcome is Outcome.ANSWER, (question, result.outcome, result.probability)
    assert normalize(expect).lower() in normalize(result.answer).lower(), (question, result.answer)


def test_cards_and_glossary_from_the_seed_index(seed):
    settings, retriever = seed
    docs = list_documents(settings)
    cards = document_cards(retriever, docs, THEMES)
    assert len(cards) == 5 and all(c.title and c.date and c.kind and c.chunks for c in cards)
    assert sum(c.chunks for c in cards) == len(retriever.owned)
    gov = next(c for c in cards if c.doc_id.startswith("2023-11-10"))
    assert any("enfance" in h.lower() for h in gov.headings) and gov.themes
    items = {i.acronym: i for i in glossary(retriever, GLOSSARY_CONF["hide"])}
    assert items["RSA"].expansion.lower() == "revenu de solidarité active"
    assert "(RSA)" in items["RSA"].passage
    assert items["CNSA"].expansion.lower().startswith("caisse nationale de solidarité")
    assert "ARS" in items and not items["ARS"].expansion  # used, never spelled out: listed with a note
    for hidden in ("STRASBOURG", "GLEYZE", "FACE"):
        assert hidden not in items
    html = render.glossary_html(list(items.values()))
    assert "jamais développé" in html and "revenu de solidarité active" in html.lower()


def test_rendering_escapes_user_and_document_text():
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    source = {"doc_id": evil, "title": evil, "publisher": evil, "date": "2024", "section": evil,
              "start_line": 1, "end_line": 2}
    result = {"answer": f"Texte {evil} [1].", "refused": False, "notice": evil,
              "citations": [{"n": 1, "text": evil, "source": source, "sentences": [f"Texte {evil} [1]."]}]}
    passages = [{"text": evil, "source": source}]
    pieces = [render.answer_message(0, result), render.sources_panel([{"question": evil, "passages": passages,
                                                                       "result": result}]),
              render.md_text(evil), render.document_page({**source, "kind": evil}, evil, 1, 1),
              render.documents_table([{**source, "kind": evil, "chunks": 1, "indexed_at": evil}])]
    for piece in pieces:
        assert "<script>" not in piece and "<img" not in piece, piece
    assert '<a href="#src-0-1"' in pieces[0]
    refusal = render.answer_message(3, {"refused": True, "answer": "x", "closest": passages, "refusal_reason": evil})
    assert 'class="refusal"' in refusal and 'href="#src-3-1"' in refusal and "Pourquoi : &lt;img" in refusal
    assert "<script>" not in refusal and "<img" not in refusal


def test_paraphrased_answer_sentence_still_highlights_its_passage_sentence():
    passage = ("Les conventions reposent sur un principe simple. Le fonds de contractualisation, d’un montant de "
               "135 millions d’euros en 2019, sera porté à 210 millions d’euros en 2022. Cette contractualisation "
               "a déjà été acceptée.")
    html = render._highlight(passage, ["Le fonds de contractualisation s'élevait à 135 millions d'euros en 2019. [1]"])
    assert html.count("<mark>") == 1
    assert "<mark>Le fonds de contractualisation" in html and "2022.</mark>" in html
    assert "<mark>" not in render._highlight(passage, ["La météo sera clémente demain matin. [1]"])


UNNAMED = "État (délégation interministérielle à la prévention et à la lutte contre la pauvreté), non nommé"


def test_refusal_says_why_in_plain_words_and_no_publisher_shows_non_nomme():
    source = {"doc_id": "strategie.txt", "title": "Une relation renouvelée", "publisher": UNNAMED, "date": "2019",
              "start_line": 1, "end_line": 2}
    passage = {"text": "Le fonds de contractualisation est de 135 millions d’euros.", "source": source}
    refusal = {"refused": True, "answer": "Les documents disponibles ne permettent pas de répondre.",
               "closest": [passage], "refusal_reason": "aucun document ne parle de crêpes"}
    assert "Pourquoi : aucun document ne parle de crêpes." in render.answer_message(0, refusal)
    assert "Pourquoi : aucun document ne parle de crêpes." in render.answer_plain(refusal)
    assert "Motif" not in render.answer_message(0, refusal) + render.answer_plain(refusal)
    result = {"answer": "Le fonds est de 135 millions d’euros. [1]", "refused": False,
              "citations": [{"n": 1, **passage, "sentences": ["Le fonds est de 135 millions d’euros."]}]}
    doc = {**source, "kind": "rapport", "chunks": 15, "indexed_at": "2026-12-01"}
    shown = [render.answer_message(0, result), render.answer_plain(result), render.answer_plain(refusal),
             render.sources_panel([{"question": "Montant ?", "passages": [passage], "result": result}]),
             render.conversation_markdown([{"question": "Montant ?", "passages": [passage], "result": result}]),
             render.documents_table([doc]), render.document_page(doc, "texte", 1, 1)]
    for piece in shown:
        assert "non nommé" not in piece, piece
        assert "État (délégation interministérielle" in piece, piece
    assert "— État (délégation interministérielle à la prévention et à la lutte contre la pauvreté), 2019 — " \
        in render.answer_plain(result)
    assert render.publisher("ANDASS, conseil d'administration") == "ANDASS, conseil d'administration"


def test_markdown_export_quotes_every_passage_whole():
    words = [f"mot{i:04d}" for i in range(600)]  # a passage far longer than any excerpt
    text = " ".join(words[:300]) + "\nla montée en charge de l'accompa-\ngnement global, à Saint-\nDenis\n" \
        + " ".join(words[300:])
    source = {"doc_id": "long.txt", "title": "Long", "publisher": "ADF", "date": "2024", "start_line": 1,
              "end_line": 9}
    result = {"answer": "Réponse. [1]", "refused": False,
              "citations": [{"n": 1, "text": text, "source": source, "sentences": []}]}
    md = render.conversation_markdown([{"question": "Q ?", "passages": [], "result": result}])
    quote = [line[2:] for line in md.splitlines() if line.startswith("> ")]
    quoted_words = " ".join(quote).split()
    for w in words + ["l'accompa-gnement", "Saint-Denis"]:
        assert w in quoted_words, w  # every word there, none cut in two
    assert not any(re.search(r"\w-$", line) for line in quote), quote



def test_a_source_is_named_the_same_way_everywhere():
    source = {"doc_id": "pacte.txt", "title": "Le Pacte", "publisher": "ADF, non nommé", "date": "2024",
              "start_line": 3, "end_line": 9}
    passage = {"text": "Le Pacte compte quatre axes.", "source": source}
    line = render.source_line(source)
    assert line == "Le Pacte — ADF, 2024 — pacte.txt, lignes 3-9"
    answered = {"answer": "Le Pacte compte quatre axes. [1]", "refused": False,
                "citations": [{"n": 1, **passage, "sentences": ["Le Pacte compte quatre axes."]}]}
    refused = {"refused": True, "answer": "Les documents disponibles ne permettent pas de répondre.",
               "closest": [passage, passage]}
    assert f"[1] {line}" in render.answer_plain(answered) and f"[1] {line}" in render.answer_plain(refused)
    assert f"[1] {line}" in render.conversation_markdown([{"question": "Axes ?", "passages": [passage],
                                                          "result": answered}])
    exported = render.conversation_markdown([{"question": "Axes ?", "passages": [passage] * 4, "result": refused}])
    assert f"[2] {line}" in exported and "[3]" not in exported  # the passages the refusal named, no more
    assert render.source_line(source, "–") in render.answer_message(0, answered)
    assert render.source_line(source, "–") in render.answer_message(0, refused)
    panel = render.turn_sources(0, "Axes ?", [passage] * 4, refused)
    assert panel.count("<details class=\"source\" id=\"src-0-") == 4 and panel.count(" open>") == 2


# ----- a glossary a new hire can trust (#19) ---------------------------------------------------------
def test_glossary_finds_calpae_in_the_andass_footnote(seed):
    settings, retriever = seed
    items = {i.acronym: i for i in glossary(retriever, GLOSSARY_CONF["hide"])}
    calpae = items["CALPAE"]
    assert calpae.expansion.startswith("Conventions d'appui pour la lutte contre la pauvreté")
    assert calpae.found == "footnote" and calpae.doc_id.startswith("2024-10-15_andass")
    # The passage is the footnote itself, found in the indexed text of the document.
    assert calpae.passage.startswith("4 Conventions d'appui pour la lutte contre la pauvreté")
    assert any(calpae.passage in meta["search"] for meta in retriever.catalog.values())
    html = render.glossary_html([calpae])
    assert "note de bas de page" in html and "Conventions d&#x27;appui" in html
    # Retrieval expands it too, as it does every acronym the corpus spells out.
    assert "Conventions d'appui" in retriever.glossary.expand_question("Que sont les CALPAE ?")


def test_common_acronyms_get_a_marked_usual_definition_with_its_source(seed):
    settings, retriever = seed
    items = {i.acronym: i for i in glossary(retriever, GLOSSARY_CONF["hide"])}
    for acr in ("CAF", "EHPAD", "ARS", "ESAT", "EPCI"):
        item = items[acr]
        assert not item.expansion and item.usual, acr  # the corpus never spells it out
        html = render.glossary_html([item])
        assert "définition usuelle" in html and "hors corpus" in html, acr
        assert f'href="{item.usual.url}"' in html and render.esc(item.usual.source) in html, acr
        assert "jamais développé" not in html
    # The curated list never reaches retrieval: no expansion is added to a question about them.
    assert retriever.glossary.expand_question("Qui finance les EHPAD ?") == "Qui finance les EHPAD ?"
    assert "EHPAD" not in retriever.glossary.entries


def test_an_acronym_the_corpus_expands_keeps_the_corpus_expansion(seed):
    settings, retriever = seed
    items = {i.acronym: i for i in glossary(retriever, GLOSSARY_CONF["hide"])}
    for acr in ("MDPH", "ASE", "PMI", "RSA"):
        item = items[acr]
        assert item.expansion and item.usual is None, acr
        assert f"({acr})" in item.passage or item.expansion in item.passage, acr
        html = render.glossary_html([item])
        assert "définition usuelle" not in html and render.esc(item.passage) in html, acr
    # The corpus's own wording, not the usual one (« pour les » personnes handicapées).
    assert items["MDPH"].expansion == "Maison Départementale pour les Personnes Handicapées"
    assert "revenu de solidarité active" in retriever.glossary.expand_question("qui touche le RSA ?").lower()


def test_party_names_and_noise_are_not_in_the_glossary(seed):
    settings, retriever = seed
    items = {i.acronym: i for i in glossary(retriever, GLOSSARY_CONF["hide"])}
    for noise in ("LREM", "MODEM", "PCR", "ASS", "BASS", "RAYMOND"):
        assert noise not in items, noise
    assert retriever.glossary_entries["LREM"].noise_uses == retriever.glossary_entries["LREM"].uses
    # What is left is defined by the corpus, by the curated list, or used often enough to matter.
    for item in items.values():
        assert item.expansion or item.usual or item.uses >= 2, item.acronym


def test_the_andass_card_shows_real_headings_only(seed):
    settings, retriever = seed
    card = next(c for c in document_cards(retriever, list_documents(settings), THEMES)
                if c.doc_id.startswith("2024-10-15_andass"))
    assert len(card.headings) >= 3
    body = {w for meta in retriever.catalog.values() if meta["doc_id"] == card.doc_id
            for w in re.findall(r"\w+", normalize(meta["search"]).lower())}
    for heading in card.headings:
        # Measured: ordinary characters only, no footnote number, every word well formed and
        # present in the document's own text, most words not from the title.
        assert re.fullmatch(r"[\w\s'’\-,:.]+", heading), heading
        assert not re.match(r"\d+\s", heading), heading
        words = re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", heading)
        assert all(re.fullmatch(r"(?:[a-zA-Z]['’])?(?:[A-ZÀ-Ý]?[a-zà-ÿ]+|[A-ZÀ-Ý])", w) for w in words), heading
        folded = re.findall(r"\w+", normalize(heading).lower())
        assert all(w in body for w in folded), heading
        title = set(re.findall(r"\w+", normalize(card.title).lower()))
        assert sum(w in title for w in folded) / len(folded) < 0.75, heading
    assert not any("BASS" in h or "Systéme d" in h for h in card.headings)
    assert "2- Mieux, retrouver les outils de la confiance" in card.headings


def test_passages_to_check_list_every_sentence_an_answer_would_have_shown():
    html = render.answer_message(0, {"refused": True, "outcome": "check", "closest": [], "refusal_reason": "",
                                     "highlight": [{"n": 1, "sentence": "Le fonds atteint 135 millions d'euros."},
                                                   {"n": 2, "sentence": "Il sera porté à 210 millions d'euros."}]})
    assert "Phrases les plus proches, à vérifier" in html and "Pas de réponse directe" in html
    assert html.count("<mark>") == 2 and 'href="#src-0-1"' in html and 'href="#src-0-2"' in html
