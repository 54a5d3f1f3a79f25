"""Write a model folder's prompt vocabulary (model/prompt_vocabulary.py) from its training corpus.

    gesso train vocabulary --model-dir models/gesso-base --data-dir corpus/base [--words-from corpus/base2]

The concepts and style phrases are those of the model's own corpus (`--data-dir`): the model is
only ever pointed at a name it was trained on. Each concept is described by its name, its label,
its shortcodes and its keywords (emojibase, emojilib, CLDR, as the corpus rows carry them);
`--words-from` adds the words another corpus holds for the same concepts (a corpus built with
richer captions). Skin-tone variants add no descriptions: a revision names the base concept and
never adds a tone the prompt did not ask for. The evaluation's paraphrases are never read.
"""

from __future__ import annotations

from pathlib import Path

from gesso.data.dataset_format import DatasetRow, read_rows
from gesso.model.prompt_vocabulary import Embed, PromptVocabulary, build_vocabulary, save_vocabulary

KEYWORDS_PER_DESCRIPTION = 8


def _style_of(row: DatasetRow) -> list[str]:
    """The style phrases a row's captions use: "cartoon style" and its alias "noto style"."""
    found = []
    phrase = row.extra.get("style_phrase")
    if not phrase:
        label = str(row.extra.get("label") or row.extra.get("concept") or "")
        tail = row.text.removeprefix(f"{label}, ") if label else ""
        phrase = tail if tail != row.text and tail.endswith(" style") else ""
    if phrase:
        found.append(phrase)
    style = row.extra.get("style")
    if row.extra.get("style_phrase") and style:
        found.append(f"{style} style")
    return found


def _words(row: DatasetRow) -> tuple[list[str], list[str]]:
    """(other names, keywords) of a row's concept."""
    names = [str(row.extra.get("label") or ""), *map(str, row.extra.get("shortcodes") or [])]
    keywords = [str(k) for k in (row.extra.get("keywords") or row.extra.get("tags") or [])]
    return [n for n in names if n], keywords


def concept_descriptions(rows: list[DatasetRow], word_rows: list[DatasetRow] = ()) -> list[tuple[str, str]]:
    """(concept, description) pairs, each description once per concept."""
    concepts = {str(row.extra["concept"]) for row in rows if row.extra.get("concept")}
    seen: dict[str, dict[str, None]] = {}
    for row in [*rows, *word_rows]:
        concept = str(row.extra.get("concept") or "")
        label = str(row.extra.get("label") or concept)
        if concept not in concepts or label != concept:  # unknown concepts and skin-tone variants
            continue
        texts = seen.setdefault(concept, {concept: None})
        names, keywords = _words(row)
        for name in names:
            texts.setdefault(name.replace("_", " "), None)
        kept = [k for k in dict.fromkeys(keywords) if k.lower() not in concept.lower()][:KEYWORDS_PER_DESCRIPTION]
        if kept:
            texts.setdefault(f"{concept}: {', '.join(kept)}", None)
    for concept in sorted(concepts - seen.keys()):  # concepts seen only as variants
        seen[concept] = {concept: None}
    return [(concept, text) for concept, texts in seen.items() for text in texts]


def write_vocabulary(
    model_dir: Path, data_dir: Path, embed: Embed, words_from: list[Path] = (), progress: bool = True
) -> PromptVocabulary:
    rows = read_rows(data_dir)
    word_rows = [row for folder in words_from for row in read_rows(folder)]
    styles = [style for row in rows for style in _style_of(row)]
    vocabulary = build_vocabulary(concept_descriptions(rows, word_rows), styles, embed, progress=progress)
    save_vocabulary(vocabulary, model_dir)
    return vocabulary
