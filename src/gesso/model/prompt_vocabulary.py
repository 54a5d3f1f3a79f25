"""The prompt-understanding step: a description in plain words becomes the name of a concept the
model was trained on, so that "the head of a puppy" draws "dog face".

A model folder may hold `prompt_vocabulary.safetensors`: sentence embeddings (Gesso's MiniLM
text encoder, mean-pooled and normalised) of several descriptions of every concept in the
model's training corpus (its name, label, shortcodes and keywords, as `train/vocabulary.py`
writes them), which concept each belongs to, and the style phrases the corpus captions use.
`revise` embeds the prompt (less a trailing style phrase), takes the nearest description and,
when it is close enough and the prompt is not already a name the model knows, returns the
concept's name with the style phrase put back. It is a nearest-neighbour lookup, not a language
model: it never adds anything the prompt did not ask for beyond the concept's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

VOCABULARY_FILE = "prompt_vocabulary.safetensors"
FORMAT = "gesso-prompt-vocabulary/1"
# Cosine similarity below which the nearest description is not taken as the prompt's meaning:
# about where MiniLM's similarities between unrelated short phrases end. Fixed, not fitted to the
# evaluation's paraphrases.
DEFAULT_THRESHOLD = 0.5
MAX_DESCRIPTION_CHARS = 300  # longer prompts are not one concept's description: left as written

Embed = Callable[[list[str]], torch.Tensor]  # texts -> (N, D) normalised sentence embeddings
_ARTICLE = re.compile(r"^(?:an?|the)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class PromptVocabulary:
    concepts: tuple[str, ...]
    styles: tuple[str, ...]  # style phrases as captions end with them: "flat style"
    embeddings: torch.Tensor  # (N, D) float32, one row per description
    owners: torch.Tensor  # (N,) int64: the concept of each description
    threshold: float = DEFAULT_THRESHOLD
    names: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(_key(concept) for concept in self.concepts))

    def knows(self, text: str) -> bool:
        """Whether `text` (articles and case aside) already is one of the concepts' names."""
        return _key(text) in self.names


def _key(text: str) -> str:
    return _ARTICLE.sub("", " ".join(text.lower().split()))


def build_vocabulary(
    descriptions: list[tuple[str, str]],
    styles: list[str],
    embed: Embed,
    threshold: float = DEFAULT_THRESHOLD,
    progress: bool = False,
) -> PromptVocabulary:
    """(concept, description) pairs -> the vocabulary; `embed` is called in chunks."""
    from tqdm import tqdm

    concepts = tuple(dict.fromkeys(concept for concept, _ in descriptions))
    index = {concept: i for i, concept in enumerate(concepts)}
    texts = [text for _, text in descriptions]
    starts = tqdm(range(0, len(texts), 256), desc="embed descriptions", unit="chunk", disable=not progress)
    chunks = [embed(texts[i : i + 256]) for i in starts]
    embeddings = torch.cat(chunks).float() if chunks else torch.zeros(0, 1)
    owners = torch.tensor([index[concept] for concept, _ in descriptions], dtype=torch.int64)
    return PromptVocabulary(concepts, tuple(dict.fromkeys(styles)), embeddings, owners, threshold)


def save_vocabulary(vocabulary: PromptVocabulary, folder: Path) -> Path:
    path = folder / VOCABULARY_FILE
    meta = {"concepts": list(vocabulary.concepts), "styles": list(vocabulary.styles),
            "threshold": vocabulary.threshold}
    save_file({"embeddings": vocabulary.embeddings.half().contiguous(), "owners": vocabulary.owners.int()},
              path, metadata={"format": FORMAT, "vocabulary": json.dumps(meta)})
    return path


def load_vocabulary(folder: Path) -> PromptVocabulary | None:
    """The folder's vocabulary, or None when it has none (its prompts are never revised)."""
    path = folder / VOCABULARY_FILE
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} file")
        words = json.loads(meta["vocabulary"])
        embeddings, owners = f.get_tensor("embeddings").float(), f.get_tensor("owners").long()
    return PromptVocabulary(tuple(words["concepts"]), tuple(words["styles"]), embeddings, owners,
                            float(words.get("threshold", DEFAULT_THRESHOLD)))


def split_style(prompt: str, styles: tuple[str, ...]) -> tuple[str, str]:
    """`prompt` -> (description, style phrase or ""), for a trailing ", flat style" or
    " in flat style" naming one of `styles`."""
    text = " ".join(prompt.split())
    lowered = text.lower()
    for style in sorted(styles, key=len, reverse=True):
        for joint in (", ", " in ", " in a ", ", in "):
            tail = f"{joint}{style.lower()}"
            if lowered.endswith(tail) and len(lowered) > len(tail):
                return text[: -len(tail)].strip(" ,"), text[-len(style):]
    return text, ""


def revise(prompt: str, vocabulary: PromptVocabulary, embed: Embed) -> str | None:
    """The prompt the model should be given, or None to keep `prompt` as it is (it already names
    a concept, nothing is close enough, or it is too long to be one concept's description)."""
    if len(prompt) > MAX_DESCRIPTION_CHARS or not len(vocabulary.concepts):
        return None
    description, style = split_style(prompt, vocabulary.styles)
    if not description or vocabulary.knows(description):
        return None
    similarities = embed([description])[0].float() @ vocabulary.embeddings.T
    score, best = similarities.max(dim=0)
    if score.item() < vocabulary.threshold:
        return None
    concept = vocabulary.concepts[int(vocabulary.owners[best])]
    revised = f"{concept}, {style}" if style else concept
    return None if revised == " ".join(prompt.split()) else revised
