"""Backends by name: for each kind (embeddings, llm, store), a table of names to factories.

A backend registers itself where it is written (`@register("llm", "openai")`) and is built from its
settings part (`Settings.part`) by `create`. The settings list a kind's accepted values from here, so
the validation of ASSISTANT_LLM (say), the README table and the error for an unknown name all read
the same names, and adding a backend is one registration, with no list to keep elsewhere.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Callable

# Where each kind's backends are written. Imported before a kind's names are read, so that they are
# complete whoever asks first (the settings' validation runs before any backend is used).
HOMES = {"embeddings": "assistant.embed", "llm": "assistant.llm", "store": "assistant.store"}

_factories: dict[str, dict[str, Callable]] = {kind: {} for kind in HOMES}


def register(kind: str, name: str):
    """Decorator: `factory(part)` builds the backend `name` of `kind` from its settings part."""
    def add(factory: Callable) -> Callable:
        assert name not in _factories[kind], f"{kind} backend {name!r} registered twice"
        _factories[kind][name] = factory
        return factory

    return add


def _table(kind: str) -> dict[str, Callable]:
    importlib.import_module(HOMES[kind])  # runs its registrations, once per process
    return _factories[kind]


def names(kind: str) -> tuple[str, ...]:
    """The registered names of `kind`, in registration order."""
    return tuple(_table(kind))


def create(kind: str, part):
    """The backend of `kind` that `part` names, built from `part`.

    `part` is a settings part (`Settings.part`): its field declared with `backend=kind` holds the name.
    An unknown name is the part's own French error, `part.validate()`: the variable and the names
    registered here (the part may have been changed after it was checked, by `dataclasses.replace`).
    """
    chooser = next(f.name for f in fields(part) if f.metadata.get("backend") == kind)
    factory = _table(kind).get(getattr(part, chooser))
    if factory is None:
        part.validate()
        raise AssertionError(f"{kind}: {getattr(part, chooser)!r} passed validation but is not registered")
    return factory(part)
