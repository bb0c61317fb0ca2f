"""The web chat's controller without a browser: real seed index, real embeddings, real SQLite stores,
the extractive backend (the model-written answers are tested in test_answer.py and test_web.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant import render
from assistant.answer_log import AnswerLog
from assistant.chat import BUSY, ChatController
from assistant.feedback import FeedbackStore

from .conftest import ANDASS, ANSWERED, BROCHURE, STRATEGY

QUESTION = ANSWERED
FUND = "Quel était le montant du fonds de contractualisation en 2019 ?"


@pytest.fixture
def settings(seed_index, tmp_path):
    # A data directory of the test's own: the answer log and the avis never reach the real data/.
    return replace(seed_index[0], llm_backend="extractive", data_dir=tmp_path / "data")


@pytest.fixture
def chat(settings, tmp_path):
    return ChatController(settings, export_dir=tmp_path / "exports")


def _final(views):
    views = list(views)
    assert views[-1].answer is not None, [v.notice for v in views]
    return views


def test_an_answer_shows_sources_first_then_the_cited_answer_logged_and_exported(chat, settings):
    views = _final(chat.ask(QUESTION, [], [], "s1"))
    first, last = views[0], views[-1]
    assert first.locked is True and first.question == "" and first.notice.text == "Recherche en cours…"
    assert first.messages[-1]["content"] == "Recherche des passages…"
    found = next(v for v in views if v.notice and "passages trouvés" in v.notice.text)
    assert "section" in found.sources and "Aude" in found.sources  # the passages before the answer
    answer = last.answer
    assert not answer["refused"] and "400" in answer["answer"] and answer["citations"]
    assert last.locked is False and last.question is None  # the box, cleared at sending, is left alone
    assert len(last.turns) == 1 and last.turns[0]["question"] == QUESTION
    assert 'href="#src-0-' in last.messages[-1]["content"]  # citations link to the passages
    assert "Sources :" in last.copy_text and "400" in last.copy_text
    exported = last.export.read_text(encoding="utf-8")
    assert exported.count("## Question") == 1 and "### Sources" in exported
    logged = AnswerLog.for_settings(settings).entries()
    assert [(e["source"], e["session"], e["question"]) for e in logged] == [("web", "s1", QUESTION)]
    assert logged[0]["retrieved"]


def test_a_refusal_is_styled_and_lists_the_closest_passages(chat):
    last = _final(chat.ask("Donne-moi une recette de crêpes au fromage.", [], [], "s1"))[-1]
    assert last.answer["refused"]
    assert 'class="refusal' in last.messages[-1]["content"] and "Pourquoi :" in last.messages[-1]["content"]
    assert last.answer["closest"] and last.notice.kind != "error"


def test_a_follow_up_uses_the_conversation(chat):
    first = _final(chat.ask(FUND, [], [], "s1"))[-1]
    follow = _final(chat.ask("Et en 2022 ?", first.messages, first.turns, "s1"))[-1]
    assert len(follow.turns) == 2 and len(follow.messages) == 4
    assert "contractualisation" in follow.turns[1]["standalone"]
    shown = follow.answer["answer"] if not follow.answer["refused"] else " ".join(
        h["sentence"] for h in follow.answer["highlight"])  # the answer, or the sentence to check
    assert "210" in shown
    assert follow.export.read_text(encoding="utf-8").count("## Question") == 2


@pytest.mark.parametrize("message, words", [
    ("   ", "La question est vide"),
    ("x" * 2001, "La question est trop longue (2001 caractères, maximum 2000)"),
    ("?!…", "ni lettre ni chiffre"),
    (None, "La question est vide"),
])
def test_bad_questions_get_a_french_message_and_lose_nothing(chat, message, words):
    views = list(chat.ask(message, [{"role": "user", "content": "avant"}], [{"question": "avant"}], "s1"))
    assert len(views) == 1
    view = views[0]
    assert view.notice.kind == "error" and words in view.notice.text
    # the conversation, the turns and the question box are left as they are
    assert view.messages is None and view.turns is None and view.question is None and view.locked is None
    assert list(chat.ask(QUESTION, [], [], "s1"))[-1].answer  # and the session is not left busy


def test_a_session_answering_refuses_a_second_question_until_it_ends(chat):
    running = chat.ask(QUESTION, [], [], "s1")
    assert next(running).locked is True  # the first question holds the session
    second = list(chat.ask("Et en 2022 ?", [], [], "s1"))
    assert [v.notice.text for v in second] == [BUSY]
    assert _final(chat.ask(QUESTION, [], [], "s2"))  # another session is not held up
    running.close()  # the page went away mid-answer: the session is free again
    assert _final(chat.ask(QUESTION, [], [], "s1"))


def test_the_rate_limit_counts_questions_per_session(settings, tmp_path):
    chat = ChatController(replace(settings, rate_limit_per_minute=2), export_dir=tmp_path / "exports")
    for _ in range(2):
        started = chat.ask(QUESTION, [], [], "s1")
        assert next(started).locked is True
        started.close()
    refused = list(chat.ask(QUESTION, [], [], "s1"))
    assert len(refused) == 1 and refused[0].notice.kind == "error"
    assert "Trop de questions en peu de temps (maximum 2 par minute)" in refused[0].notice.text
    assert refused[0].question is None  # the question stays in the box
    assert next(chat.ask(QUESTION, [], [], "s2")).locked is True  # per session


def test_feedback_and_comment_are_stored(chat, settings):
    last = _final(chat.ask(QUESTION, [], [], "s1"))[-1]
    early = chat.comment("rien", last.turns, None)
    assert early.notice.kind == "error" and "Notez d'abord" in early.notice.text
    assert chat.rate(last.turns, 7, True).turns is None  # no such message: nothing stored
    rated = chat.rate(last.turns, 1, False, "s1")  # the answer is message 1 of turn 0
    assert rated.notice.kind == "ok" and "pas utile" in rated.notice.text and rated.rated == 0
    assert chat.comment("  ", rated.turns, 0).notice.text == "Le commentaire est vide."
    done = chat.comment("Il manque le montant 2020, appeler le 06 12 34 56 78.", rated.turns, 0)
    assert done.notice.kind == "ok" and done.clear_comment
    again = chat.rate(rated.turns, 1, True, "s1")  # a second click changes the same avis
    assert again.turns[0]["feedback_id"] == rated.turns[0]["feedback_id"]
    [stored] = FeedbackStore.for_settings(settings).list()
    assert stored.rating == 1 and stored.question == QUESTION and stored.session == "s1"
    assert "Il manque le montant 2020" in stored.comment and "06 12 34 56 78" not in stored.comment  # redacted


def test_a_new_conversation_starts_empty(chat):
    view = chat.new_conversation()
    assert view.messages == [] and view.turns == [] and view.question == ""
    assert "s'afficheront ici" in view.sources and "Nouvelle conversation" in view.notice.text


def test_a_library_error_mid_answer_is_shown_in_french_and_keeps_the_question(settings, tmp_path):
    chat = ChatController(replace(settings, index_dir=tmp_path / "pas-d-index"), export_dir=tmp_path / "exports")
    last = list(chat.ask(QUESTION, [], [], "s1"))[-1]
    assert last.notice.kind == "error" and last.notice.text.endswith("Votre question est conservée.")
    assert last.question == QUESTION and last.locked is False and last.answer is None
    assert "Aucun index" in last.notice.text and "assistant ingest" in last.notice.text
    assert last.messages[0]["role"] == "user"  # the question stays in the conversation, its answer says why
    assert last.messages[-1]["content"] == render.error_message(last.notice.text.removesuffix(" Votre question est conservée."))


# ----- the « Filtres » panel ---------------------------------------------------------------------------
def test_the_filter_lists_the_indexed_documents_by_title(chat, seed_index):
    choices = dict((doc_id, title) for title, doc_id in chat.document_choices())
    assert len(choices) == seed_index[1].documents and {ANDASS, STRATEGY, BROCHURE} <= set(choices)
    assert "gros temps" in choices[ANDASS].lower()  # the title is shown, the file name is the value


def test_a_question_filtered_by_document_and_dates_sees_only_those_and_is_logged_with_them(chat, settings):
    unfiltered = _final(chat.ask(QUESTION, [], [], "s1"))[-1]
    assert {p["source"]["doc_id"] for p in unfiltered.turns[0]["passages"]} != {ANDASS}  # else nothing is shown
    views = _final(chat.ask(QUESTION, [], [], "s2", docs=[ANDASS]))
    assert {p["source"]["doc_id"] for p in views[-1].turns[0]["passages"]} == {ANDASS}
    assert any(v.notice and "(filtres : 1 document choisi)" in v.notice.text for v in views)
    dated = _final(chat.ask(QUESTION, [], [], "s3", since="2021", until="2021"))[-1]
    assert {p["source"]["doc_id"] for p in dated.turns[0]["passages"]} <= {BROCHURE, STRATEGY}
    logged = {e["session"]: e["filters"] for e in AnswerLog.for_settings(settings).entries()}
    assert logged == {"s1": {}, "s2": {"documents": [ANDASS], "since": "", "until": ""},
                      "s3": {"documents": [], "since": "2021", "until": "2021"}}


@pytest.mark.parametrize("docs, since, until, words", [
    (["Morbihan"], "", "", "Aucun document indexé ne correspond à « Morbihan »"),
    ([], "2025", "2024", "Période impossible : du 2025 au 2024"),
    ([], "2030", "", "Aucun document indexé n'est daté de cette période"),
    ([], "hier", "", "Date « depuis » « hier » invalide"),
    ([], "", "13/11/2023", "Date « jusqu'au » « 13/11/2023 » invalide"),
])
def test_a_filter_that_cannot_match_is_a_french_message_and_loses_nothing(chat, docs, since, until, words):
    views = list(chat.ask(QUESTION, [{"role": "user", "content": "avant"}], [{"question": "avant"}], "s1",
                          docs, since, until))
    assert len(views) == 1 and views[0].notice.kind == "error" and words in views[0].notice.text
    assert "--" not in views[0].notice.text  # the page's own labels, not the CLI's options
    assert views[0].messages is None and views[0].turns is None and views[0].question is None
    assert next(chat.ask(QUESTION, [], [], "s1")).locked is True  # the session is not left busy


def test_while_searching_the_sources_panel_never_says_no_passage_was_found(chat):
    first = _final(chat.ask(QUESTION, [], [], "s1"))[0]
    assert "Recherche des passages" in first.sources and "Aucun passage trouvé" not in first.sources
    # once searched, none found is said
    done = render.sources_panel([], {"question": QUESTION, "passages": [], "status": "Rédaction de la réponse…"})
    assert "Aucun passage trouvé" in done
