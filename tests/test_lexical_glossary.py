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
