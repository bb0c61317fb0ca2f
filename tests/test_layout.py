"""An index built by another version of what is indexed (store.LAYOUT) is refused with a message
asking for a rebuild, by search and by ingest alike, and the rebuild mends it."""

import pytest

from assistant.errors import IndexMismatchError
from assistant.ingest import ingest
from assistant.retrieve import Retriever
from assistant.store import LAYOUT, Store

from .conftest import make_settings


def test_an_index_of_another_layout_asks_for_a_rebuild(tmp_path, small_corpus):
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    store = Store(settings)
    number, collection = store.ready_generation()
    assert collection.metadata["layout"] == LAYOUT
    collection.modify(metadata={**collection.metadata, "layout": LAYOUT + 1})  # as another version wrote it
    for opening in (lambda: Retriever(settings), lambda: ingest(settings)):
        with pytest.raises(IndexMismatchError, match="ingest --rebuild"):
            opening()
    ingest(settings, rebuild=True)
    assert Retriever(settings).search("contractualisation", k=1)
