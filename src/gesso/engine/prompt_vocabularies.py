"""Each registered model's prompt vocabulary (model/prompt_vocabulary.py), read from its folder
once per version of the file; a model without one (or with an unreadable one) revises nothing."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from gesso.model.prompt_vocabulary import VOCABULARY_FILE, PromptVocabulary, load_vocabulary

log = logging.getLogger("gesso.engine")
_lock = threading.Lock()
_loaded: dict[Path, tuple[float, PromptVocabulary | None]] = {}


def model_vocabulary(models_dir: Path, name: str) -> PromptVocabulary | None:
    """The vocabulary of the registered model `name` (a base model's folder name), or None."""
    folder = (models_dir / name).resolve()
    path = folder / VOCABULARY_FILE
    try:
        version = path.stat().st_mtime
    except OSError:
        return None
    with _lock:
        cached = _loaded.get(folder)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            vocabulary = load_vocabulary(folder)
        except Exception:  # noqa: BLE001 - a damaged file turns revision off for the model, never a 5xx
            log.warning("unreadable prompt vocabulary; prompts for this model are not revised",
                        extra={"model": name}, exc_info=True)
            vocabulary = None
        _loaded[folder] = (version, vocabulary)
        return vocabulary
