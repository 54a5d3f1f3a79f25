"""Generate images for the CLI: resolve the model, check inputs, batch, write PNG files."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from gesso.engine.adapter_cache import AdapterCache
from gesso.engine.batching import count_images, plan_batches, resolve_seeds, run_batch
from gesso.engine.device import pick_device
from gesso.engine.image_files import save_png, slugify
from gesso.engine.model_registry import UnknownModel, folder_traits, resolve_model
from gesso.engine.pipeline_cache import pipeline_cache_for
from gesso.jobs.generation_request import GenerationRequest
from gesso.jobs.prompts_file import read_prompts_file
from gesso.jobs.request_checks import check_request, parse_size
from gesso.jobs.request_errors import BadRequest
from gesso.model.adapters import AdapterError
from gesso.model.pipeline_gesso import GessoPipeline
from gesso.model.prompt_vocabulary import Embed, PromptVocabulary, load_vocabulary, revise
from gesso.model.samplers import SAMPLERS, unknown_sampler
from gesso.model.text_encoder import sentence_embeddings
from gesso.settings import Settings


class GenerationInputError(ValueError):
    """Anything the caller must fix: unknown model, bad size, values out of range, bad file."""


def generate_to_files(
    settings: Settings,
    *,
    prompt: str | None,
    prompts_file: Path | None,
    model: str,
    n: int,
    seed: int | None,
    steps: int | None,
    guidance: float | None,
    size: str | None,
    negative: str,
    sampler: str,
    batch_size: int,
    out_dir: Path,
    rng: random.Random,
    adapter: Path | None = None,
    background: str = "opaque",
    revise_prompt: bool = True,
    on_revision: Callable[[str, str], None] = lambda given, revised: None,
) -> list[Path]:
    """Write `out_dir/<slug>_<seed>.png` (one prompt) or `out_dir/<id>_<k>.png` (prompts file).

    `adapter`: a LoRA adapter folder to generate with (see `gesso finetune create`).
    `revise_prompt`: put each prompt through the model's prompt vocabulary, when it has one
    (`on_revision(prompt, revised)` is told of each change).
    Every input is checked before the model runs; raises GenerationInputError with one line.
    """
    try:
        model_dir = resolve_model(model, settings.models_dir)
    except UnknownModel as exc:
        raise GenerationInputError(str(exc)) from None
    if sampler not in SAMPLERS:
        raise GenerationInputError(unknown_sampler(sampler))
    try:
        device = pick_device(settings.device)
    except ValueError as exc:
        raise GenerationInputError(str(exc)) from None
    traits = folder_traits(model_dir)
    supported = traits.sizes
    try:
        defaults = GenerationRequest(
            prompt=prompt or "",
            model=model,
            n=n,
            seed=seed,
            steps=settings.default_steps if steps is None else steps,
            guidance=settings.default_guidance if guidance is None else guidance,
            size=parse_size(size) if size else supported[0],
            negative=negative,
            background=background,
        )
        if prompts_file is not None:
            labelled = read_prompts_file(
                prompts_file, defaults, supported, settings.max_images_per_request, settings.max_steps,
                traits.has_alpha,
            )
        else:
            checked = check_request(
                defaults, settings.max_images_per_request, settings.max_steps, supported, traits.has_alpha
            )
            labelled = [("", checked)]
    except BadRequest as exc:
        raise GenerationInputError(str(exc)) from None

    labels = [label for label, _ in labelled]
    requests = resolve_seeds([request for _, request in labelled], rng)
    pipe = pipeline_cache_for(settings, device).get(model_dir, sampler)
    vocabulary = load_vocabulary(model_dir) if revise_prompt else None
    if vocabulary is not None:
        requests = _revised(requests, vocabulary, _embedder(pipe), on_revision)
    batches = plan_batches(requests, batch_size)
    paths: list[Path] = []
    with_adapter = contextlib.ExitStack()
    if adapter is not None:
        try:
            with_adapter.enter_context(AdapterCache().use(pipe, adapter))
        except AdapterError as exc:
            raise GenerationInputError(str(exc)) from None
    progress = tqdm(total=count_images(batches), desc="generate", unit="img", disable=len(batches) < 2)
    with with_adapter, progress as bar:
        for slots in batches:
            images = run_batch(pipe, requests, slots)
            for slot, image in zip(slots, images):
                req = requests[slot.request]
                label = labels[slot.request]
                name = f"{label}_{slot.index}.png" if prompts_file else f"{slugify(req.prompt)}_{slot.seed}.png"
                params = {
                    "prompt": req.prompt,
                    **({"revised_prompt": req.revised_prompt} if req.revised_prompt else {}),
                    "negative_prompt": req.negative,
                    "seed": slot.seed,
                    "steps": req.steps,
                    "guidance_scale": req.guidance,
                    "sampler": sampler,
                    "model": model,
                }
                if adapter is not None:
                    params["adapter"] = str(adapter)
                paths.append(save_png(image, out_dir / name, params))
            bar.update(len(slots))
    return paths


def _embedder(pipe: GessoPipeline) -> Embed:
    """Sentence embeddings from the pipeline's own text encoder (already loaded)."""
    return lambda texts: sentence_embeddings(texts, pipe.text_encoder, pipe.tokenizer, 64).cpu()


def _revised(
    requests: list[GenerationRequest], vocabulary: PromptVocabulary, embed: Embed,
    on_revision: Callable[[str, str], None],
) -> list[GenerationRequest]:
    revisions: dict[str, str | None] = {}
    out = []
    for request in requests:
        if request.prompt not in revisions:
            revisions[request.prompt] = revise(request.prompt, vocabulary, embed)
            if revisions[request.prompt] is not None:
                on_revision(request.prompt, revisions[request.prompt])
        revised = revisions[request.prompt]
        out.append(dataclasses.replace(request, revised_prompt=revised) if revised else request)
    return out
