"""French analyzer, BM25 and the corpus glossary."""

from assistant.glossary import Glossary, extract
from assistant.lexical import BM25Index, analyze


def test_analyzer_folds_accents_elisions_numbers_and_stems():
    assert analyze("l'État") == analyze("etat") == analyze("I'Etat".replace("I'", "l'"))
    assert analyze("6 000 places") == analyze("6000 place")
    assert analyze("Départements") == analyze("departement")
    assert analyze("méme") == analyze("même")  # OCR'd accents meet the right word
    assert "a" not in analyze("a la fois")  # "à" read as "a" is a stopword either way


def test_bm25_ranks_the_matching_chunk_first(tmp_path):
    index = BM25Index.build(["a", "b", "c"], [
        "La protection de l'enfance relève du Département.",
        "Le revenu de solidarité active est versé aux allocataires.",
        "Les transports scolaires et les collèges.",
    ])
    assert index.search(analyze("allocataires du revenu de solidarite"), 3)[0][0] == "b"
    path = tmp_path / "bm25.npz"
    index.save(path)
    again = BM25Index.load(path)
    assert again.search(analyze("enfance"), 3) == index.search(analyze("enfance"), 3)


def test_glossary_from_corpus_text_and_expansion_both_ways():
    entries = extract([
        ("c1", "d", "Améliorer l'insertion des bénéficiaires du revenu de solidarité active (RSA) ; "
                    "le RSA est versé par le Département."),
        ("c2", "d", "La Caisse nationale de solidarité pour l'autonomie (CNSA) finance l'APA."),
        ("c3", "d", "La MDPH (Maison départementale des personnes handicapées) instruit les demandes."),
    ])
    assert entries["RSA"].expansion == "revenu de solidarité active"
    assert entries["CNSA"].expansion == "Caisse nationale de solidarité pour l'autonomie"
    assert entries["MDPH"].expansion.startswith("Maison départementale")
    assert entries["APA"].expansion == ""  # used, never spelled out
    glossary = Glossary(entries)
    terms = analyze("Qui touche le RSA ?")
    extra, weights = glossary.expand_terms("", terms)
    assert set(analyze("revenu solidarité active")) <= set(terms + extra)
    assert all(0 < weights[t] < 1 for t in extra)
    terms = analyze("montant du revenu de solidarité active")
    assert "rsa" in glossary.expand_terms("", terms)[0]
    assert "revenu de solidarité active" in glossary.expand_question("c'est quoi le rsa")


def test_stemming_is_thread_safe():
    """Concurrent questions stem at the same time: every thread must get the single-threaded stems."""
    import threading

    import snowballstemmer

    from assistant import lexical
    from assistant.corpus import list_files

    from .conftest import SEED_CORPUS

    words = sorted({t for f in list_files(SEED_CORPUS)[0] for t in lexical.tokenize(f.read_text(encoding="utf-8"))
                    if len(t) > 3 and not t[0].isdigit()})
    reference = snowballstemmer.stemmer("french")
    expected = {w: reference.stemWord(w) for w in words}
    failures = []

    def work(offset):
        try:
            for w in words[offset:] + words[:offset]:
                if lexical._stem.__wrapped__(w) != expected[w]:
                    failures.append(w)
        except Exception as exc:  # the shared stemmer raised IndexError under contention
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i * 997,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(words) > 3000 and not failures, failures[:5]


def test_footnote_defines_an_acronym_despite_ocr_damage():
    """The ANDASS note's OCR: the note call read as "*" or "®" or lost, "I'" for "l'", words between."""
    entries = extract([
        ("c1", "andass", "Sans nier les avancées réalisées grace aux CALPAE* ou aux CDPPE® et l'intérêt d'un "
                         "dialogue local, ces financements sont restés marginaux. Les CDPE, les CAF et le SI Unique."),
        ("c2", "andass", "3 Système d'information\n"
                         "4 Conventions d'appui pour la lutte contre la pauvreté et a I'accés a I'emploi\n"
                         "5 Contrats départementaux de prévention et de protection de I'enfance Plusieurs "
                         "solutions existent pour sortir de l'impasse, si la loi le permet."),
        ("c3", "other", "Un autre document.\n1 Caisse d'allocations familiales"),
    ])
    calpae = entries["CALPAE"]
    assert calpae.expansion == "Conventions d'appui pour la lutte contre la pauvreté et a I'accés a I'emploi"
    assert calpae.found == "footnote" and calpae.passage.startswith("4 Conventions d'appui") and calpae.doc_id == "andass"
    # A note defines the acronym it spells best: CDPPE, not CDPE (one word too many); the glued
    # paragraph is not part of the note.
    assert entries["CDPPE"].passage == "5 Contrats départementaux de prévention et de protection de I'enfance"
    assert not entries["CDPE"].expansion
    assert "SI" not in entries or not entries["SI"].expansion  # "si" is a French word: no chance match
    assert not entries["CAF"].expansion  # a note of another document does not define it
    assert Glossary(entries).expand_question("Que sont les CALPAE ?").endswith("a I'accés a I'emploi)")


def test_parentheses_read_through_a_note_call():
    entries = extract([("c", "d", "la mise en œuvre du service public départemental de l'autonomie (SPDA®).")])
    assert entries["SPDA"].expansion == "service public départemental de l'autonomie"
    assert entries["SPDA"].found == "parentheses"


def test_party_names_and_signature_lines_are_counted_apart():
    entries = extract([
        ("c1", "d", "Les discussions s'achèvent par une motion de rejet initiée par les députés LREM et MODEM."),
        ("c2", "d", "Contact : Jean DUPONT, ANDASS (jean.dupont@example.org)\nL'ANDASS plaide pour la confiance."),
    ])
    assert entries["LREM"].noise_uses == entries["LREM"].uses == 1
    assert entries["MODEM"].noise_uses == entries["MODEM"].uses == 1
    assert entries["ANDASS"].uses == 2 and entries["ANDASS"].noise_uses == 1  # the signature line only


def test_usual_definitions_are_sourced_and_do_not_feed_retrieval():
    from assistant.glossary import load_usual_definitions

    usual = load_usual_definitions()
    for acr in ("CAF", "EHPAD", "ARS", "ESAT", "EPCI", "MDPH", "ASE", "PMI", "RSA"):
        d = usual[acr]
        assert d.expansion and d.source and d.url.startswith("https://"), acr
        assert d.definition.endswith(".") and d.definition.count(". ") == 0, acr  # one sentence
    # Retrieval expands only what the corpus spells out: the curated list stays out of it.
    entries = extract([("c", "d", "Les EHPAD et les ARS, avec le revenu de solidarité active (RSA).")])
    glossary = Glossary(entries)
    assert set(glossary.entries) == {"RSA"}
    assert glossary.expand_question("Qui autorise les EHPAD ?") == "Qui autorise les EHPAD ?"
