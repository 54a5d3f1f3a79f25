"""Caption variants for training: the canonical caption plus paraphrase-like views of a row."""

from __future__ import annotations

from gesso.data.dataset_format import DatasetRow

VARIANTS_PER_ROW = 3


def caption_variants(row: DatasetRow) -> list[str]:
    """Three captions for one image: the stored caption, the bare label, and a tag phrase.

    The tag phrase ("a picture of grinning face: face, grin, happy") teaches the model the
    words people use for a concept, which is what lets it follow paraphrases.
    """
    label = str(row.extra.get("label") or row.text)
    tags = [t for t in row.extra.get("tags") or [] if t.lower() not in label.lower()][:4]
    style = row.text.rsplit(", ", 1)[-1] if ", " in row.text else ""
    tag_phrase = f"a {style} picture of {label}" + (f": {', '.join(tags)}" if tags else "")
    return [row.text, label, tag_phrase][:VARIANTS_PER_ROW]
