"""Cleaning and chunking on the real seed documents: debris out, citations still findable."""

import pytest

from assistant.chunk import chunk_document
from assistant.clean import clean_document, repair_ocr, to_display
from assistant.corpus import document_info, read_manifest
from assistant.load import load_document

from .conftest import ANDASS, ARTICLE, BROCHURE, GOVERNMENT, SEED_CORPUS, STRATEGY


def _alnum(text: str) -> str:
    return "".join(c.lower() for c in text if c.isalnum())


@pytest.fixture(scope="module")
def chunked():
    manifest = read_manifest(SEED_CORPUS)
    out = {}
    for name in (ARTICLE, GOVERNMENT, ANDASS, BROCHURE, STRATEGY):
        doc = load_document(document_info(SEED_CORPUS / name, SEED_CORPUS, manifest))
        out[name] = (doc, chunk_document(doc, clean_document(doc), 1000, 200))
    return out


def test_ocr_repairs_for_matching():
    assert repair_ocr("le réle de I'Etat et I’action") == "le rôle de l'Etat et l'action"
    assert to_display("inser-\ntion des **allocataires**\ndu RSA") == "insertion des allocataires du RSA"


def test_every_chunk_is_findable_at_its_lines(chunked):
    for name, (doc, chunks) in chunked.items():
        lines = doc.text.split("\n")
        for c in chunks:
            span = _alnum("\n".join(lines[c.start_line - 1 : c.end_line]))
            # Each paragraph of the passage stands in those lines, in order (debris between
            # paragraphs may have been dropped).
            pos = 0
            for paragraph in c.display.split("\n"):
                found = span.find(_alnum(paragraph), pos)
                assert found >= 0, (name, c.start_line, paragraph[:80])
                pos = found
            assert c.section is not None and c.doc_id == name


def test_web_boilerplate_table_of_contents_and_sidebars_are_gone(chunked):
    article = " ".join(c.display for c in chunked[ARTICLE][1])
    assert "Skip to main content" not in article and "Print Friendly" not in article
    sections = " ".join(c.section for c in chunked[ARTICLE][1])
    assert "Floriane Dumont" in article + sections  # the byline is content, not debris
    brochure = [c.display for c in chunked[BROCHURE][1]]
    assert not any("modèle départemental\t5" in d or "territoire\t24" in d for d in brochure)
    # The capitals pull quote repeats the sentence beside it; the sentence stays.
    assert not any("POUR LE TOURISME" in d for d in brochure)
    assert any("350.000 euros" in d for d in brochure)


def test_chunks_follow_structure_and_size(chunked):
    doc, chunks = chunked[BROCHURE]
    sizes = [len(c.display) for c in chunks]
    assert max(sizes) <= 1000 * 1.5
    assert any("1.2 Protéger l'enfance" in c.section for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_ocr_document_search_text_is_repaired(chunked):
    _, chunks = chunked[ANDASS]
    joined = " ".join(c.search for c in chunks)
    assert "I'Etat" not in joined and "I’Etat" not in joined
    assert "l'Etat" in joined
