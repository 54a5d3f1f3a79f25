"""Per-tenant content policy: blocked terms and a semantic block-list, checked before any work.

Two rules, applied to prompts, negative prompts and fine-tuning captions:

- blocked terms: whole-word, case-insensitive matches of the term's letters after the text is read
  as a person sees it: invisible characters dropped, look-alike letters of any script folded to
  their Unicode (UTS #39) prototypes, accents, leetspeak and repeated letters undone, and any
  separators between the term's letters ignored ("bo mb", "b.o.m.b", "ʙᴏᴍʙ", "b*mb"); a plural
  "s" may follow. Always applied. The reading, the match and its trade-off (words that together
  spell a term are refused too) are in `gesso.governance.blocked_terms`.
- blocked concepts: MiniLM sentence-embedding cosine similarity between the text (and, with
  moderation "auto", each clause and each short window of it) and each listed concept; at or above
  the threshold it is refused. List concepts as short concrete phrases ("a gun", "the Acme logo"):
  MiniLM matches those far better than abstract categories ("weapons").

`moderation` follows OpenAI's Images API: "auto" (default) applies the full policy; "low" is less
restrictive: the semantic rule only compares whole texts and clauses (no sliding windows) against
a higher threshold (`low_semantic_threshold`), so only close paraphrases are refused. Blocked terms
apply identically under both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Sequence

import torch

from gesso.governance.blocked_terms import find_blocked_term

Moderation = Literal["auto", "low"]
Embedder = Callable[[list[str]], torch.Tensor]  # texts -> (N, D) L2-normalised embeddings

MODERATION_LEVELS = ("auto", "low")
WINDOW_WORDS = 4
CLAUSE_SPLIT = re.compile(r"[,;:.!?\n]+|\band\b|\bwith\b|\bnext to\b")
@dataclass(frozen=True)
class ContentPolicy:
    """One tenant's policy. Thresholds are cosine similarities of MiniLM sentence embeddings."""

    blocked_terms: tuple[str, ...] = ()
    blocked_concepts: tuple[str, ...] = ()
    semantic_threshold: float = 0.55
    low_semantic_threshold: float = 0.70

    def threshold(self, moderation: Moderation) -> float:
        return self.low_semantic_threshold if moderation == "low" else self.semantic_threshold


@dataclass(frozen=True)
class PolicyViolation:
    field: str  # "prompt", "negative_prompt", "caption" (or a caption's location)
    rule: Literal["blocked_term", "blocked_concept"]
    matched: str  # the term or concept: for the audit record, not for the client
    score: float | None = None  # similarity for blocked_concept

    @property
    def message(self) -> str:
        """What the client is told (the matched term stays out of it, so it cannot be probed)."""
        what = "a blocked term" if self.rule == "blocked_term" else "a blocked concept"
        return f"The {self.field} was refused by the organisation's content policy: it has {what}."

    def audit_details(self) -> dict[str, object]:
        return {
            "field": self.field,
            "rule": self.rule,
            "matched": self.matched,
            "score": self.score,
        }


# -- semantic block-list ---------------------------------------------------------------------------


def text_views(text: str, moderation: Moderation) -> list[str]:
    """The pieces of a text compared with the concepts: the whole, its clauses, and (auto) windows.

    A blocked concept buried in a long prompt ("a cute cat next to a pipe bomb, flat style") is
    diluted in the whole-text embedding; the clause and window views find it.
    """
    views = [text.strip()]
    views += [c.strip() for c in CLAUSE_SPLIT.split(text) if c and c.strip()]
    if moderation == "auto":
        words = text.split()
        if len(words) > WINDOW_WORDS:
            views += [
                " ".join(words[i : i + WINDOW_WORDS]) for i in range(len(words) - WINDOW_WORDS + 1)
            ]
    return list(dict.fromkeys(v for v in views if v))


def find_blocked_concept(
    text: str,
    concepts: Sequence[str],
    embed: Embedder,
    threshold: float,
    moderation: Moderation,
    concept_vectors: torch.Tensor | None = None,
) -> tuple[str, float] | None:
    """(concept, similarity) of the closest blocked concept at or above `threshold`, or None.

    `concept_vectors` (embed(concepts)) can be passed in when many texts are checked at once.
    """
    if not concepts or not text.strip():
        return None
    if concept_vectors is None:
        concept_vectors = embed(list(concepts))
    similarity = embed(text_views(text, moderation)) @ concept_vectors.T  # (views, concepts)
    best = similarity.max(dim=0).values  # (concepts,)
    index = int(best.argmax())
    score = float(best[index])
    return (concepts[index], score) if score >= threshold else None


# -- the check the service and the fine-tune validator call ----------------------------------------


def check_moderation(value: str | None) -> Moderation:
    """A request's moderation level (None means "auto"); raises ValueError for anything else."""
    if value is None:
        return "auto"
    if value not in MODERATION_LEVELS:
        raise ValueError(f"moderation must be one of {', '.join(MODERATION_LEVELS)}, got {value!r}")
    return value  # type: ignore[return-value]


def check_texts(
    texts: Iterable[tuple[str, str | None]],
    policy: ContentPolicy,
    moderation: Moderation = "auto",
    embed: Embedder | None = None,
) -> PolicyViolation | None:
    """The first violation among (field, text) pairs, or None when all pass.

    Blocked terms are checked on every text first (cheap); the semantic rule then runs when the
    policy lists concepts. Raises ValueError if concepts are listed but no embedder is given.
    """
    items = [(field, text) for field, text in texts if text]
    for field, text in items:
        term = find_blocked_term(text, policy.blocked_terms)
        if term is not None:
            return PolicyViolation(field, "blocked_term", term)
    if not policy.blocked_concepts:
        return None
    if embed is None:
        raise ValueError("this policy lists blocked concepts: an embedder is needed")
    threshold = policy.threshold(moderation)
    concept_vectors = embed(list(policy.blocked_concepts))
    for field, text in items:
        hit = find_blocked_concept(
            text, policy.blocked_concepts, embed, threshold, moderation, concept_vectors
        )
        if hit is not None:
            return PolicyViolation(field, "blocked_concept", hit[0], round(hit[1], 4))
    return None


def check_generation_request(
    prompt: str,
    negative_prompt: str | None,
    policy: ContentPolicy,
    moderation: str | None = None,
    embed: Embedder | None = None,
) -> PolicyViolation | None:
    """Policy check of an image request's texts (fields named as in the API)."""
    return check_texts(
        [("prompt", prompt), ("negative_prompt", negative_prompt)],
        policy,
        check_moderation(moderation),
        embed,
    )


def check_captions(
    captions: Iterable[str],
    policy: ContentPolicy,
    embed: Embedder | None = None,
) -> PolicyViolation | None:
    """Policy check of a fine-tuning set's captions; the field names the row (`caption[3]`)."""
    return check_texts(
        ((f"caption[{i}]", c) for i, c in enumerate(captions)), policy, "auto", embed
    )
