"""Prompt adherence and diversity of a pipeline, measured with the independent recogniser."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.samplers import sampler_name
from gesso.train.recogniser_net import Recogniser


@dataclass
class EvalReport:
    concepts: int
    top1: float
    top5: float
    paraphrases: int
    paraphrase_top1: float
    paraphrase_top5: float
    chance_top5: float
    diversity: float
    reference_diversity: float
    sampler: str
    steps: int
    guidance: float
    paraphrases_revised: int = 0  # paraphrase prompts the prompt-understanding step rewrote
    revision_top1: float = 0.0  # of all paraphrases, those revised to their own concept

    def as_dict(self) -> dict:
        return asdict(self)


def _to_model_range(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)


@torch.no_grad()
def ranks_of_targets(recogniser: Recogniser, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Rank (0 = best) of each target class in the recogniser's logits for uint8 images."""
    logits = recogniser(_to_model_range(images))
    target_logit = logits.gather(1, targets.view(-1, 1))
    return (logits > target_logit).sum(1)


@torch.no_grad()
def generate_batched(
    pipe: GessoPipeline, prompts: list[str], seeds: list[int], steps: int, guidance: float, batch: int, desc: str
) -> torch.Tensor:
    out = []
    for i in tqdm(range(0, len(prompts), batch), desc=desc, unit="batch"):
        out.append(
            pipe(prompts[i : i + batch], seed=seeds[i : i + batch], num_inference_steps=steps,
                 guidance_scale=guidance, output_type="pt")
        )
    return torch.cat(out)


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean cosine distance over all pairs of rows of (K, D)."""
    f = F.normalize(features, dim=-1)
    pairs = list(itertools.combinations(range(len(f)), 2))
    return float(sum(1 - (f[a] @ f[b]) for a, b in pairs) / len(pairs))


class ParaphraseError(ValueError):
    """A paraphrase file entry without a prompt, or naming a concept the recogniser lacks."""


def read_paraphrases(path: Path, index: dict[str, int]) -> list[dict]:
    """The YAML list of {prompt, concept}, checked against the recogniser's labels (`index`)."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    for k, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("prompt"):
            raise ParaphraseError(f"{path}: entry {k} has no prompt")
        if entry.get("concept") not in index:
            raise ParaphraseError(f"{path}: entry {k}: concept {entry.get('concept')!r} is not a label of the recogniser")
    return entries


@torch.no_grad()
def evaluate(
    pipe: GessoPipeline,
    recogniser: Recogniser,
    labels: list[dict],
    paraphrase_file: Path,
    steps: int = 20,
    guidance: float = 4.0,
    limit: int | None = None,
    batch: int = 32,
    diversity_concepts: int = 32,
    diversity_seeds: int = 4,
    reference_images: torch.Tensor | None = None,
    revise_prompt: Callable[[str], str | None] | None = None,
) -> EvalReport:
    """Generate one image per concept from its canonical name and score top-1/top-5.

    Also scores paraphrase prompts (`paraphrase_file`: a YAML list of {prompt, concept}) and the
    diversity across seeds: mean pairwise cosine distance of recogniser embeddings among
    `diversity_seeds` images of the same prompt (reference: the same figure for corpus images of
    one concept across styles, when `reference_images` (K, S, 3, H, W) is given).
    `revise_prompt`: the prompt-understanding step a request gets by default (the model's
    vocabulary), applied to the paraphrases as the API would; canonical names pass unchanged.
    """
    index = {item["concept"]: i for i, item in enumerate(labels)}
    paraphrases = read_paraphrases(paraphrase_file, index)  # before minutes of generation
    chosen = labels if limit is None else labels[:: max(1, len(labels) // limit)][:limit]
    prompts = [item["concept"] for item in chosen]
    targets = torch.tensor([index[p] for p in prompts])
    images = generate_batched(pipe, prompts, list(range(len(prompts))), steps, guidance, batch, "eval concepts")
    ranks = ranks_of_targets(recogniser, images, targets)

    para_prompts = [p["prompt"] for p in paraphrases]
    revised = [revise_prompt(p) if revise_prompt is not None else None for p in para_prompts]
    revision_hits = sum(r is not None and (r == p["concept"] or r.startswith(f"{p['concept']}, "))
                        for r, p in zip(revised, paraphrases, strict=True))
    para_prompts = [r or p for r, p in zip(revised, para_prompts, strict=True)]
    para_targets = torch.tensor([index[p["concept"]] for p in paraphrases])
    para_images = generate_batched(pipe, para_prompts, list(range(len(para_prompts))), steps, guidance, batch, "eval paraphrases")
    para_ranks = ranks_of_targets(recogniser, para_images, para_targets)

    div_prompts = [p for p in prompts[:: max(1, len(prompts) // diversity_concepts)][:diversity_concepts]]
    div_images = generate_batched(
        pipe,
        [p for p in div_prompts for _ in range(diversity_seeds)],
        [1000 + k for _ in div_prompts for k in range(diversity_seeds)],
        steps, guidance, batch, "eval diversity",
    )
    emb = recogniser.embedding(_to_model_range(div_images)).view(len(div_prompts), diversity_seeds, -1)
    diversity = sum(mean_pairwise_distance(e) for e in emb) / len(emb)
    reference = 0.0
    if reference_images is not None:
        k, s = reference_images.shape[:2]
        ref = recogniser.embedding(_to_model_range(reference_images.flatten(0, 1))).view(k, s, -1)
        reference = sum(mean_pairwise_distance(e) for e in ref) / k

    return EvalReport(
        concepts=len(prompts),
        top1=float((ranks < 1).float().mean()),
        top5=float((ranks < 5).float().mean()),
        paraphrases=len(para_prompts),
        paraphrase_top1=float((para_ranks < 1).float().mean()),
        paraphrase_top5=float((para_ranks < 5).float().mean()),
        chance_top5=5 / len(labels),
        diversity=diversity,
        reference_diversity=reference,
        sampler=sampler_name(pipe.scheduler),
        steps=steps,
        guidance=guidance,
        paraphrases_revised=sum(r is not None for r in revised),
        revision_top1=revision_hits / max(1, len(paraphrases)),
    )


def reference_set(corpus_dir: Path, labels: list[dict], concepts: int = 32, per_concept: int = 4) -> torch.Tensor:
    """(K, S, 3, H, W) uint8 corpus images of K concepts with S images each (styles, skin tones)."""
    from gesso.data.dataset_format import read_rows
    from gesso.train.image_tensors import load_images

    rows = read_rows(corpus_dir)
    by_concept: dict[str, list] = {}
    for row in rows:
        by_concept.setdefault(row.extra.get("concept", ""), []).append(row)
    names = [item["concept"] for item in labels[:: max(1, len(labels) // concepts)]]
    picked = [by_concept[n][:per_concept] for n in names if len(by_concept.get(n, [])) >= per_concept][:concepts]
    flat = [r for group in picked for r in group]
    size = 64
    images = load_images(corpus_dir, flat, size)
    return images.view(len(picked), per_concept, 3, size, size)
