"""Prompts are files in prompts/, loaded by name."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .errors import AssistantError


@lru_cache(maxsize=32)
def load(prompts_dir: Path, name: str) -> str:
    path = Path(prompts_dir) / f"{name}.md"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AssistantError(f"Le prompt {path} est introuvable : réinstallez le dossier prompts/.") from exc


_CONTROL_TOKENS = re.compile(r"<\|[^|<>]{0,40}\|>|</?extrait[^>]{0,200}>", re.IGNORECASE)


def neutralize(text: str) -> str:
    """Quoted data must not close its quote or forge chat-template turns (<|im_start|>...)."""
    return _CONTROL_TOKENS.sub(" ", text).replace("{", "(").replace("}", ")")
