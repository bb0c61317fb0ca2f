"""Prompts are files in prompts/, loaded by name."""

from __future__ import annotations

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
